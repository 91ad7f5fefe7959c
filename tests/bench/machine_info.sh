#!/usr/bin/env bash
# Prints the machine a benchmark ran on: the CPU model, and the instruction set oneDNN picked
# (its verbose "isa" line), so that figures from Zen 4 (AVX-512 VNNI) and AMX hosts are told
# apart. Usage: tests/bench/machine_info.sh [WHITTLE_CLI]   (sourced or run by the bench scripts)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cli=${1:-$root/build/app/whittle-cli}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
isa="?"
if "$cli" train --arch lenet5 --dataset fashion-mnist --steps 0 -o "$tmp/m.onnx" >/dev/null 2>&1; then
  verbose=$(ONEDNN_VERBOSE=1 "$cli" bench "$tmp/m.onnx" --iters 1 --threads 1 2>&1 || true)
  isa=$(grep -m1 "info,cpu,isa" <<<"$verbose" | sed 's/.*info,cpu,isa://')
fi
echo "CPU: $cpu; oneDNN ISA: $isa; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
