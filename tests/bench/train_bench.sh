#!/usr/bin/env bash
# Training throughput and peak memory, Whittle vs PyTorch 1.13 CPU (Debian python3-torch), same
# architecture, batch, thread count and optimizer (SGD, momentum 0.9, weight decay 5e-4), measured
# in the same run. Warm-up steps are excluded from both throughputs (whittle-cli reports
# `steady_images_per_second`; the PyTorch script times after its warm-up). Peak memory is the
# maximum resident set size of each whole process (/usr/bin/time -v), dataset included (both hold
# Fashion-MNIST as uint8). Neither side augments or evaluates (the step itself is measured).
# whittle-cli train re-executes itself with GOMP_SPINCOUNT=30000 unless an OpenMP wait policy is
# set (see app/cli_train.cpp); PyTorch runs with libgomp's default (threads spin ~300,000 rounds
# before sleeping), and once more with GOMP_SPINCOUNT=30000 for the like-for-like column.
# Prints a markdown table, one row per run; with --repeat R > 1 also a summary per architecture:
# the median of the per-run ratios and the best run of each side (highest throughput), since on
# a shared machine a run can lose a third of its speed to a neighbour.
# Usage: tests/bench/train_bench.sh [WHITTLE_CLI] [--steps N] [--threads T] [--batch B]
#        [--archs "resnet20 mobilenetv2-tiny"] [--repeat R]
# Needs: python3-torch (run with /usr/bin/python3), dataset-fashion-mnist, /usr/bin/time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-$root/build/app/whittle-cli}
shift || true
steps=40
threads=2
batch=128
repeat=1
archs="resnet20 mobilenetv2-tiny"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
"$root/tests/bench/machine_info.sh" "$cli"
warmup=3
work=${TMPDIR:-/tmp}/whittle-train-bench
mkdir -p "$work"
py=/usr/bin/python3

# max RSS (MB) from a /usr/bin/time -v log
rss_mb() { awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }
json_key() { $py -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "load before: $(uptime | sed 's/.*load average/load average/')" >&2
echo "| arch | batch | threads | Whittle img/s | PyTorch img/s | Whittle / PyTorch | PyTorch img/s, GOMP_SPINCOUNT=30000 | Whittle / that | Whittle peak RSS MB | PyTorch peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
summary=""
for arch in $archs; do
  ours_all=""
  theirs_all=""
  for ((r = 0; r < repeat; ++r)); do
    /usr/bin/time -v -o "$work/ours.time" \
      "$cli" train --arch "$arch" --dataset fashion-mnist --steps "$steps" --batch "$batch" \
      --threads "$threads" --no-augment --no-eval --json -o "$work/$arch.onnx" \
      >"$work/ours.json" 2>"$work/ours.err" ||
      { echo "whittle-cli failed:" >&2; cat "$work/ours.err" >&2; exit 1; }
    ours=$(json_key steady_images_per_second <"$work/ours.json")
    /usr/bin/time -v -o "$work/torch.time" \
      $py "$root/tests/bench/train_bench_torch.py" --arch "$arch" --steps "$steps" \
      --warmup "$warmup" --batch "$batch" --threads "$threads" >"$work/torch.json" ||
      { echo "PyTorch script failed" >&2; exit 1; }
    theirs=$(json_key images_per_second <"$work/torch.json")
    GOMP_SPINCOUNT=30000 $py "$root/tests/bench/train_bench_torch.py" --arch "$arch" --steps "$steps" \
      --warmup "$warmup" --batch "$batch" --threads "$threads" >"$work/torch2.json" ||
      { echo "PyTorch script failed" >&2; exit 1; }
    theirs2=$(json_key images_per_second <"$work/torch2.json")
    ratio=$($py -c "print(f'{$ours/$theirs:.2f}')")
    ratio2=$($py -c "print(f'{$ours/$theirs2:.2f}')")
    printf '| %s | %d | %d | %.0f | %.0f | %s | %.0f | %s | %s | %s |\n' "$arch" "$batch" "$threads" \
      "$ours" "$theirs" "$ratio" "$theirs2" "$ratio2" "$(rss_mb "$work/ours.time")" \
      "$(rss_mb "$work/torch.time")"
    ours_all="$ours_all $ours"
    theirs_all="$theirs_all $theirs"
  done
  if ((repeat > 1)); then
    summary+=$($py - "$arch" "$ours_all" "$theirs_all" <<'PY'
import statistics, sys
arch, ours, theirs = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
ratios = [o / t for o, t in zip(ours, theirs)]
print(f"| {arch} | {len(ours)} | {statistics.median(ratios):.2f} | {min(ratios):.2f} - {max(ratios):.2f} "
      f"| {max(ours):.0f} | {max(theirs):.0f} | {max(ours) / max(theirs):.2f} |")
PY
)$'\n'
  fi
done
if [[ -n "$summary" ]]; then
  echo
  echo "| arch | runs | median Whittle / PyTorch | range | best Whittle img/s | best PyTorch img/s | best / best |"
  echo "|---|---:|---:|---|---:|---:|---:|"
  printf '%s' "$summary"
fi
echo "load after: $(uptime | sed 's/.*load average/load average/')" >&2
