#!/usr/bin/env bash
# The PyTorch FX QDQ Fashion-MNIST classifier (tests/tools/export_fx_qdq_classifier.sh) on all
# 10,000 test images: Whittle's int8 path (QDQ Conv groups lowered to oneDNN int8 QConv) vs ONNX
# Runtime 1.30 vs PyTorch FX int8 itself — logit agreement in output-quantizer steps, top-1
# agreement, accuracy, and latency at batch 1 and 64. Prints a markdown table.
# Usage: tests/bench/fx_qdq_bench.sh [WHITTLE_CLI] [--threads T] [--iters N]
# Needs: python3-torch, dataset-fashion-mnist, tests/peers (npm onnxruntime-node).
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
"$root/tests/tools/export_fx_qdq_classifier.sh" >/dev/null
fashion=$root/tests/data/fashion
model=$fashion/classifier_fx_qdq.onnx
[[ -e "$model" ]] || { echo "no $model (python3-torch or the dataset missing)"; exit 0; }
work=${TMPDIR:-/tmp}/whittle-fx-qdq-bench
rm -rf "$work"
mkdir -p "$work"

"$cli" run "$model" --input "input=$fashion/test_images.npy" --output-dir "$work/whittle" >/dev/null
node "$root/tests/peers/ort_run.js" "$model" "$work/ort" "input=$fashion/test_images.npy" \
  --threads "$threads" >/dev/null
steps=$(ONEDNN_VERBOSE=0 "$cli" profile "$model" --batch 1 --json 2>/dev/null |
  /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for n in d["nodes"] if n["op"]=="Conv" and "int8" in str(n.get("precision",""))))' || echo "?")

bench_p50() {  # batch
  "$cli" bench "$model" --batch "$1" --threads "$threads" --iters "$iters" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])'
}
ort_p50() {  # batch
  /usr/bin/python3 -c "import numpy as np; np.save('$work/in.npy', np.load('$fashion/test_images.npy')[:$1])"
  node "$root/tests/peers/ort_run.js" "$model" "$work/ortb" "input=$work/in.npy" \
    --threads "$threads" --bench "$iters" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])'
}
w1=$(bench_p50 1); o1=$(ort_p50 1); w64=$(bench_p50 64); o64=$(ort_p50 64)

/usr/bin/python3 - "$model" "$work" "$fashion" "$steps" "$threads" "$w1" "$o1" "$w64" "$o64" <<'PY'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper
model, work, fashion, convs, threads, w1, o1, w64, o64 = sys.argv[1:]
m = onnx.load(model)
out = m.graph.output[0].name
dq = next(n for n in m.graph.node if out in n.output)
inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node
          if n.op_type == "Constant"}
step = float({**inits, **consts}[dq.input[1]])
ours = np.load(f"{work}/whittle/logits.npy")
ort = np.load(f"{work}/ort/logits.npy")
labels = np.load(f"{fashion}/test_labels.npy")
meta = json.load(open(f"{fashion}/classifier_fx_qdq.json"))
diff = np.abs(ours - ort) / step
po, pr = ours.argmax(1), ort.argmax(1)
print(f"\nFX QDQ classifier ({meta['engine']}, {meta['calibration_images']} calibration images), "
      f"{len(labels)} test images, output step {step:.5g}, {threads} threads\n")
print("| | Whittle int8 | ONNX Runtime | PyTorch FX int8 | PyTorch float |")
print("|---|---:|---:|---:|---:|")
print(f"| accuracy | {(po == labels).mean():.4f} | {(pr == labels).mean():.4f} | "
      f"{meta['pytorch_int8_accuracy']:.4f} | {meta['float_accuracy']:.4f} |")
print(f"| p50 ms, batch 1 | {float(w1):.3f} | {float(o1):.3f} | | |")
print(f"| p50 ms, batch 64 | {float(w64):.3f} | {float(o64):.3f} | | |")
print(f"\nWhittle vs ORT: worst |logit difference| {diff.max():.3f} steps, "
      f"{int((diff > 1e-3).sum())} of {diff.size} logits differ, top-1 agreement "
      f"{(po == pr).sum()} / {len(labels)}; int8 convolutions in the profile: {convs}")
PY
