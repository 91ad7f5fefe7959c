#!/usr/bin/env bash
# Sequence-model latency, Whittle vs ONNX Runtime 1.30 (npm, CPU): the transformer encoder, the
# GPT-style decoder and the LSTM/GRU model of tests/tools/export_sequence_models.py at given
# batch and length (`bench --shape`), same inputs (floats uniform in [-1, 1], integer and bool
# inputs zero, as `whittle-cli bench` fills them), same thread count, in the same run.
# Usage: tests/bench/sequence_bench.sh [WHITTLE_CLI] [--threads T] [--iters N]
# Needs: packaging/install-deps.sh --peers (onnxruntime-node, python3-torch for the exports).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-$root/build/app/whittle-cli}
shift || true
threads=2
iters=50
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
"$root/tests/bench/machine_info.sh" "$cli"
"$root/tests/tools/export_sequence_models.sh" >/dev/null
data=$root/tests/data/sequence
work=${TMPDIR:-/tmp}/whittle-sequence-bench
mkdir -p "$work"

# model|shape spec (NAME=D0,D1,... separated by spaces)
cases=(
  "transformer_encoder|tokens=1,128 padding_mask=1,128"
  "transformer_encoder|tokens=16,128 padding_mask=16,128"
  "gpt_decoder|tokens=1,128 attention_mask=1,128"
  "gpt_decoder|tokens=16,128 attention_mask=16,128"
  "recurrent|features=1,200,20"
  "recurrent|features=16,200,20"
)

echo "| model | shape | threads | Whittle p50 ms | ORT p50 ms | Whittle / ORT |"
echo "|---|---|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
  name=${c%%|*}
  spec=${c#*|}
  model=$data/$name.onnx
  [[ -e $model ]] || { echo "note: $model missing (python3-torch?)" >&2; continue; }
  args=()
  for s in $spec; do args+=(--shape "$s"); done
  ours=$("$cli" bench "$model" "${args[@]}" --threads "$threads" --iters "$iters" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])')
  feeds=$(/usr/bin/python3 - "$model" "$work" $spec <<'PY'
import sys, numpy as np, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
shapes = dict(s.split("=") for s in sys.argv[3:])
types = {i.name: i.type.tensor_type.elem_type for i in m.graph.input}
rng = np.random.default_rng(0)
out = []
for name, dims in shapes.items():
    dims = [int(d) for d in dims.split(",")]
    t = types[name]
    if t == onnx.TensorProto.FLOAT:
        a = rng.uniform(-1, 1, dims).astype(np.float32)
    elif t == onnx.TensorProto.BOOL:
        a = np.zeros(dims, dtype=bool)
    else:
        a = np.zeros(dims, dtype=np.int64)
    path = f"{sys.argv[2]}/{name}.npy"
    np.save(path, a)
    out.append(f"{name}={path}")
print(" ".join(out))
PY
)
  # shellcheck disable=SC2086
  theirs=$(node "$root/tests/peers/ort_run.js" "$model" "$work/ort" $feeds --threads "$threads" \
    --bench "$iters" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])')
  ratio=$(/usr/bin/python3 -c "print(f'{$ours/$theirs:.2f}')")
  printf '| %s | %s | %d | %.3f | %.3f | %s |\n' "$name" "$spec" "$threads" "$ours" "$theirs" "$ratio"
done
