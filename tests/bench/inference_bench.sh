#!/usr/bin/env bash
# Inference latency, Whittle vs ONNX Runtime 1.30 (npm, CPU), same model, input shape and thread
# count, measured in the same run. Prints a markdown table.
# Usage: tests/bench/inference_bench.sh [WHITTLE_CLI] [--threads T] [--iters N]
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
work=${TMPDIR:-/tmp}/whittle-inference-bench
mkdir -p "$work"

# Built-in architectures (untrained: `train --steps 0` writes the initialised model).
for arch in lenet5 resnet20 mobilenetv2-tiny; do
  [[ -e "$work/$arch.onnx" ]] ||
    "$cli" train --arch "$arch" --dataset fashion-mnist --steps 0 -o "$work/$arch.onnx" >/dev/null 2>&1 ||
    echo "note: could not write $arch (whittle-cli train missing?)" >&2
done
"$root/tests/tools/export_torchvision.sh" >/dev/null

models=()
for arch in lenet5 resnet20 mobilenetv2-tiny; do [[ -e "$work/$arch.onnx" ]] && models+=("$work/$arch.onnx"); done
for tv in resnet18 mobilenet_v2; do
  [[ -e "$root/tests/data/torchvision/$tv.onnx" ]] && models+=("$root/tests/data/torchvision/$tv.onnx")
done

bench_json() {  # model batch -> "p50 peak_rss_bytes"
  "$cli" bench "$1" --batch "$2" --threads "$threads" --iters "$iters" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["p50_ms"], d["peak_rss_bytes"])'
}
ort_p50() {  # model batch
  /usr/bin/python3 - "$1" "$2" "$work/in.npy" <<'PY'
import sys, numpy as np, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
inits = {i.name for i in m.graph.initializer}
inp = [i for i in m.graph.input if i.name not in inits][0]
dims = [d.dim_value if d.HasField("dim_value") else int(sys.argv[2]) for d in inp.type.tensor_type.shape.dim]
np.save(sys.argv[3], np.random.default_rng(0).uniform(-1, 1, dims).astype(np.float32))
open(sys.argv[3] + ".name", "w").write(inp.name)
PY
  node "$root/tests/peers/ort_run.js" "$1" "$work/ort" "$(cat "$work/in.npy.name")=$work/in.npy" \
    --threads "$threads" --bench "$iters" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_ms"])'
}
echo "| model | batch | threads | Whittle p50 ms | ORT p50 ms | Whittle / ORT |"
echo "|---|---:|---:|---:|---:|---:|"
for model in "${models[@]}"; do
  name=$(basename "$model" .onnx)
  for batch in 1 64; do
    [[ "$name" == resnet18 || "$name" == mobilenet_v2 ]] && [[ $batch == 64 ]] && continue
    read -r ours _ < <(bench_json "$model" "$batch")
    theirs=$(ort_p50 "$model" "$batch")
    ratio=$(/usr/bin/python3 -c "print(f'{$ours/$theirs:.2f}')")
    printf '| %s | %d | %d | %.3f | %.3f | %s |\n' "$name" "$batch" "$threads" "$ours" "$theirs" "$ratio"
  done
done

# ---- int8: QDQ files from `whittle-cli compress` (ptq W8A8 minmax, 512 calibration images) ----
# Our engine runs their QDQ Conv groups as oneDNN int8 kernels (QConv); the float original and
# ONNX Runtime on the same QDQ file are measured in the same run. Peak RSS: the bench process's.
# torchvision's 224x224 RGB models are calibrated on a folder of 512 Fashion-MNIST training
# images as PNG (read as RGB at 224x224, ImageNet-normalised): real pictures, not ImageNet ones, so
# their accuracy means nothing; the speed is what these rows measure.
calib=$work/calib224
if [[ ! -e $calib/done ]]; then
  /usr/bin/python3 - "$calib" <<'PY'
import gzip, os, sys, numpy as np
from PIL import Image
src, out = "/usr/share/datasets/fashion-mnist", sys.argv[1]
images = np.frombuffer(gzip.open(f"{src}/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
labels = np.frombuffer(gzip.open(f"{src}/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
for i in range(512):
    os.makedirs(f"{out}/class{labels[i]}", exist_ok=True)
    Image.fromarray(images[i]).save(f"{out}/class{labels[i]}/{i:05d}.png")
open(f"{out}/done", "w").close()
PY
fi
echo
echo "| model | batch | ours FP32 ms | ours int8 ms | int8 speed-up | ORT FP32 ms | ORT int8 ms | ours int8 / ORT int8 | peak RSS FP32 / int8 MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for arch in resnet20 mobilenetv2-tiny resnet18 mobilenet_v2; do
  float=$work/$arch.onnx dataset=fashion-mnist
  if [[ $arch == resnet18 || $arch == mobilenet_v2 ]]; then
    float=$root/tests/data/torchvision/$arch.onnx dataset=folder:$calib
  fi
  [[ -e $float ]] || continue
  qdq=$work/$arch-int8.onnx
  echo '{"algorithm":"ptq","params":{"samples":512}}' > "$work/ptq.json"
  [[ -e $qdq ]] || "$cli" compress "$float" --recipe "$work/ptq.json" \
      -o "$qdq" --dataset "$dataset" --eval-limit 100 >/dev/null 2>&1 ||
    { echo "note: could not quantize $arch" >&2; continue; }
  for batch in 1 64; do
    read -r f32 rssf < <(bench_json "$float" "$batch")
    read -r i8 rssi < <(bench_json "$qdq" "$batch")
    ortf=$(ort_p50 "$float" "$batch")
    orti=$(ort_p50 "$qdq" "$batch")
    /usr/bin/python3 -c "print('| $arch | $batch | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2f | %.0f / %.0f |' % ($f32, $i8, $f32/$i8, $ortf, $orti, $i8/$orti, $rssf/2**20, $rssi/2**20))"
  done
done
