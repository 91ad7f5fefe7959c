#!/usr/bin/env bash
# Compression benchmarks (issue "Compression I"): accuracy, size and speed of every quantization
# algorithm on Fashion-MNIST's 10,000 test images, for ResNet-20 and MobileNetV2-tiny trained by
# whittle-cli and for the PyTorch-exported classifier of tests/tools/train_fashion_classifier.py;
# each export also evaluated in ONNX Runtime (npm onnxruntime-node), and SimQAT's training speed
# against PyTorch 1.13's FX quantization-aware training (prepare_qat_fx) in the same run.
#
# Usage: tests/bench/compress_bench.sh [WHITTLE_CLI] [--epochs E] [--threads T] [--work DIR]
#        [--models "resnet20 mobilenetv2-tiny pytorch"] [--only "ptq rtn gptq simqat lsq"]
#        [--qat-steps N]
# Trained float models are kept in the work folder (default /tmp/whittle-compress-bench) and
# reused by later runs with the same --epochs. Prints markdown tables.
# Needs: dataset-fashion-mnist; for the ORT column tests/peers/node_modules and
# tests/data/fashion/test_{images,labels}.npy (tests/tools/train_fashion_classifier.sh makes
# them); python3-torch for the PyTorch rows.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=$root/build/app/whittle-cli
if [[ $# -gt 0 && $1 != --* ]]; then cli=$1; shift; fi
epochs=10
threads=2
work=${TMPDIR:-/tmp}/whittle-compress-bench
models="resnet20 mobilenetv2-tiny pytorch"
only="ptq rtn gptq simqat lsq"
qat_steps=40
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --qat-steps) qat_steps=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
py=/usr/bin/python3
fashion=$root/tests/data/fashion
peers=$root/tests/peers
mkdir -p "$work/recipes" "$work/out"
"$root/tests/bench/machine_info.sh" "$cli"
registered=$("$cli" algorithms --json 2>/dev/null | $py -c 'import json,sys; print(" ".join(a["name"] for a in json.load(sys.stdin)["algorithms"]))')
echo "algorithms registered: $registered"
has() { [[ " $registered " == *" $1 "* && " $only " == *" $1 "* ]]; }

# ---- Models ------------------------------------------------------------------------------------
model_path() {
  case "$1" in
    pytorch) echo "$fashion/classifier.onnx" ;;
    *) echo "$work/$1-e$epochs.onnx" ;;
  esac
}
for m in $models; do
  p=$(model_path "$m")
  if [[ $m == pytorch ]]; then
    [[ -f $p ]] || "$root/tests/tools/train_fashion_classifier.sh" >&2
  elif [[ ! -f $p ]]; then
    echo "training $m for $epochs epochs -> $p" >&2
    "$cli" train --arch "$m" --epochs "$epochs" --threads "$threads" --no-eval -o "$p" >&2
  fi
done

# ---- Recipes -----------------------------------------------------------------------------------
recipe() {  # name json
  echo "$2" > "$work/recipes/$1.json"
}
for c in minmax percentile entropy mse; do
  recipe "ptq-w8a8-$c" "{\"algorithm\":\"ptq\",\"params\":{\"calibration\":\"$c\",\"samples\":512}}"
done
recipe rtn-w4-g128 '{"algorithm":"rtn","params":{"weight_bits":4,"group_size":128}}'
recipe gptq-w4-g128 '{"algorithm":"gptq","params":{"weight_bits":4,"group_size":128,"samples":256}}'
recipe simqat-w8a8 '{"algorithm":"simqat","train":{"epochs":1,"lr":0.001}}'
recipe lsq-w4a8 '{"algorithm":"lsq","params":{"weight_bits":4,"activation_bits":8},"train":{"epochs":2}}'
recipe lsq-w4a4 '{"algorithm":"lsq","params":{"weight_bits":4,"activation_bits":4},"train":{"epochs":2}}'

ort_accuracy() {
  if [[ -d $peers/node_modules/onnxruntime-node && -f $fashion/test_images.npy ]]; then
    node "$peers/ort_accuracy.js" "$1" "$fashion/test_images.npy" "$fashion/test_labels.npy" \
      --threads "$threads" | $py -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["accuracy"])'
  else
    echo "n/a"
  fi
}

rows=$work/rows.txt
: > "$rows"
run() {  # model-name model-path recipe-name
  local out=$work/out/$1-$3.onnx json
  json=$work/out/$1-$3.json
  if ! "$cli" compress "$2" --recipe "$work/recipes/$3.json" -o "$out" --dataset fashion-mnist \
      --threads "$threads" --json > "$json" 2> "$work/out/$1-$3.err"; then
    echo "| $1 | $3 | failed: $(tail -1 "$work/out/$1-$3.err") |" >> "$rows"
    return
  fi
  local ort
  ort=$(ort_accuracy "$out")
  $py - "$json" "$1" "$3" "$ort" >> "$rows" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
model, recipe, ort = sys.argv[2], sys.argv[3], sys.argv[4]
before, after = j["accuracy_before"], j["accuracy_after"]
t = j.get("timings", {})
train = j.get("train", {})
print("| %s | %s | %.4f | %.4f | %+.2f | %s | %.3f | %.1f | %.1f | %s | %s |" % (
    model, recipe, before, after, 100 * (after - before), ort,
    j["bytes_after"] / j["bytes_before"], t.get("apply_seconds", 0), t.get("train_seconds", 0),
    "%.0f" % train["steady_images_per_second"] if train else "-",
    "yes" if j["verified"] else "NO"))
PY
}

for m in $models; do
  p=$(model_path "$m")
  if has ptq; then
    for c in minmax percentile entropy mse; do run "$m" "$p" "ptq-w8a8-$c"; done
    # W4A8: GPTQ weights with the activation calibration that did best at W8A8 on this model.
    best=$($py - "$work/out" "$m" <<'PY'
import json, os, sys
d, m = sys.argv[1], sys.argv[2]
best, acc = "percentile", -1
for c in ("minmax", "percentile", "entropy", "mse"):
    f = os.path.join(d, "%s-ptq-w8a8-%s.json" % (m, c))
    if os.path.exists(f):
        a = json.load(open(f))["accuracy_after"]
        if a > acc:
            best, acc = c, a
print(best)
PY
)
    recipe "ptq-w4a8-gptq-$best" "{\"algorithm\":\"ptq\",\"params\":{\"calibration\":\"$best\",\"weight_bits\":4,\"weight_method\":\"gptq\",\"samples\":512}}"
    run "$m" "$p" "ptq-w4a8-gptq-$best"
  fi
  has rtn && run "$m" "$p" rtn-w4-g128
  has gptq && run "$m" "$p" gptq-w4-g128
  has simqat && run "$m" "$p" simqat-w8a8
  has lsq && { run "$m" "$p" lsq-w4a8; run "$m" "$p" lsq-w4a4; }
done

echo
echo "## Accuracy, size and time (Fashion-MNIST test set, 10,000 images; $threads threads)"
echo
echo "| model | recipe | float | compressed | change (pt) | ONNX Runtime | size ratio | apply s | train s | train img/s | verified |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$rows"

# ---- Weight-only: per-layer output error, RTN vs GPTQ -------------------------------------------
if has rtn && has gptq; then
  echo
  echo "## Weight-only W4 g128: relative output MSE per layer on calibration inputs (lower is better)"
  echo
  for m in $models; do
    $py - "$work/out/$m-rtn-w4-g128.json" "$work/out/$m-gptq-w4-g128.json" "$m" <<'PY'
import json, os, sys
r, g, m = sys.argv[1:4]
if not (os.path.exists(r) and os.path.exists(g)):
    sys.exit(0)
rl = {l["name"]: l["relative_output_mse"] for l in json.load(open(r)).get("layers", [])}
gl = {l["name"]: l["relative_output_mse"] for l in json.load(open(g)).get("layers", [])}
better = sum(1 for k in rl if k in gl and gl[k] <= rl[k])
mean = lambda d: sum(d.values()) / max(1, len(d))
print("- %s: GPTQ error <= RTN on %d of %d layers; mean relative MSE RTN %.5f, GPTQ %.5f"
      % (m, better, len(rl), mean(rl), mean(gl)))
PY
  done
fi

# ---- QAT speed -------------------------------------------------------------------------------------
if has simqat && [[ " $models " == *" resnet20 "* ]]; then
  echo
  echo "## QAT training speed, ResNet-20, batch 128, $threads threads (steady state)"
  echo
  ours=$($py -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["train"]["steady_images_per_second"])' "$work/out/resnet20-simqat-w8a8.json" 2>/dev/null || echo n/a)
  torch=$($py "$root/tests/bench/qat_bench_torch.py" --arch resnet20 --steps "$qat_steps" --threads "$threads" 2>/dev/null | tail -1 | $py -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["images_per_second"])' || echo n/a)
  echo "| Whittle simqat (img/s) | PyTorch prepare_qat_fx (img/s) | ratio |"
  echo "|---|---|---|"
  $py -c "import sys; o,t=sys.argv[1],sys.argv[2]; print('| %s | %s | %s |' % (o, t, ('%.2fx' % (float(o)/float(t))) if o!='n/a' and t!='n/a' else 'n/a'))" "$ours" "$torch"
fi
