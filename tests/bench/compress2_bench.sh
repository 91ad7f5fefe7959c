#!/usr/bin/env bash
# Compression II benchmarks (issue "Compression II"): structured pruning (scop, l1, bn_gamma)
# and SLB low-bit weights on Fashion-MNIST's 10,000 test images, for ResNet-20 and
# MobileNetV2-tiny trained by whittle-cli. Every export is also evaluated in ONNX Runtime
# (npm onnxruntime-node) and, for pruning, timed at batch 64 in our engine and in ONNX Runtime
# beside its float original in the same run.
#
# Usage: tests/bench/compress2_bench.sh [WHITTLE_CLI] [--epochs E] [--threads T] [--work DIR]
#        [--models "resnet20 mobilenetv2-tiny"] [--only "scop l1 bn_gamma control slb"]
#        [--ft-epochs N] [--kf-epochs N] [--slb-epochs N] [--slb "w1 w2 w4 w1-ablation"]
#        [--target R] [--mbv2-target R] [--slb-t-end F] [--slb-t-factor F] [--reuse]
#   --epochs      epochs of the float models (trained once, kept in the work folder)
#   --ft-epochs   fine-tuning epochs after pruning (the same for every pruning algorithm, and for
#                 the "control" row: the float model trained that many more epochs, unpruned)
#   --target      FLOPs kept (target_flops_ratio) for ResNet-20; --mbv2-target for MobileNetV2-tiny
#   --reuse       keep the compressed models and reports already in WORK/out2 (re-measure and
#                 re-print only: e.g. the batch-64 timings again on an idle machine)
#   --slb-epochs  SLB training epochs (= its epoch_size); --slb-t-end its t_end_time (default 1.0:
#                 with 2 epochs, epoch 1 searches soft at T = 1.2 and epoch 2 trains the rest on
#                 the argmax weights); --slb-t-factor its t_factor (default 1.2, the seed's: over
#                 few epochs a larger factor reaches the seed's high final temperatures)
#   --slb         which SLB runs: w1/w2/w4 with init_from_weights and BN calibration on;
#                 w1-ablation (w2-, w4-) adds that width with each of them off, and both off
# Prints markdown tables; the raw JSON reports stay in WORK/out2.
# Needs: dataset-fashion-mnist; tests/peers/node_modules and tests/data/fashion/test_*.npy for
# the ONNX Runtime columns (tests/tools/train_fashion_classifier.sh makes them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=$root/build/app/whittle-cli
if [[ $# -gt 0 && $1 != --* ]]; then cli=$1; shift; fi
epochs=6
threads=2
work=${TMPDIR:-/tmp}/whittle-compress-bench
models="resnet20 mobilenetv2-tiny"
only="scop l1 bn_gamma control slb"
ft_epochs=3
kf_epochs=1
slb_epochs=2
slb_t_end=1.0
slb_t_factor=1.2
reuse=0
slb_runs="w1 w2 w4 w1-ablation"
target=0.5
mbv2_target=0.45
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --ft-epochs) ft_epochs=$2; shift 2 ;;
    --kf-epochs) kf_epochs=$2; shift 2 ;;
    --slb-epochs) slb_epochs=$2; shift 2 ;;
    --slb) slb_runs=$2; shift 2 ;;
    --slb-t-end) slb_t_end=$2; shift 2 ;;
    --slb-t-factor) slb_t_factor=$2; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --target) target=$2; shift 2 ;;
    --mbv2-target) mbv2_target=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done
py=/usr/bin/python3
fashion=$root/tests/data/fashion
peers=$root/tests/peers
out=$work/out2
mkdir -p "$work/recipes" "$out"
"$root/tests/bench/machine_info.sh" "$cli"
registered=$("$cli" algorithms --json 2>/dev/null | $py -c 'import json,sys; print(" ".join(a["name"] for a in json.load(sys.stdin)["algorithms"]))')
echo "algorithms registered: $registered"
wants() { [[ " $only " == *" $1 "* ]]; }
has() { [[ " $registered " == *" $1 "* ]] && wants "$1"; }
have_ort() { [[ -d $peers/node_modules/onnxruntime-node && -f $fashion/test_images.npy ]]; }

# ---- Float models ------------------------------------------------------------------------------
model_path() { echo "$work/$1-e$epochs.onnx"; }
for m in $models; do
  p=$(model_path "$m")
  if [[ ! -f $p ]]; then
    echo "training $m for $epochs epochs -> $p" >&2
    "$cli" train --arch "$m" --epochs "$epochs" --threads "$threads" --no-eval -o "$p" >&2
  fi
done

# ---- Helpers -----------------------------------------------------------------------------------
ort_accuracy() {
  if have_ort; then
    node "$peers/ort_accuracy.js" "$1" "$fashion/test_images.npy" "$fashion/test_labels.npy" \
      --threads "$threads" | $py -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["accuracy"])'
  else
    echo "n/a"
  fi
}
batch64=$work/batch64.npy
$py -c "import numpy as np; np.save('$batch64', np.random.default_rng(0).random((64,1,28,28), dtype=np.float32))"
input_name() { $py -c "import onnx,sys; m=onnx.load(sys.argv[1]); init={i.name for i in m.graph.initializer}; print([i.name for i in m.graph.input if i.name not in init][0])" "$1"; }
ours_ms() {  # model -> p50 ms at batch 64
  "$cli" bench "$1" --batch 64 --threads "$threads" --iters 30 --json 2>/dev/null |
    $py -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["p50_ms"])' || echo n/a
}
ort_ms() {
  if have_ort; then
    local d
    d=$(mktemp -d)
    node "$peers/ort_run.js" "$1" "$d" "$(input_name "$1")=$batch64" --threads "$threads" --bench 30 |
      $py -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["p50_ms"])' || echo n/a
    rm -rf "$d"
  else
    echo "n/a"
  fi
}
compress() {  # model-name model-path recipe-name -> 0 when the JSON report was written
  [[ $reuse == 1 && -s $out/$1-$3.json && -f $out/$1-$3.onnx ]] && return 0
  "$cli" compress "$2" --recipe "$work/recipes/$3.json" -o "$out/$1-$3.onnx" \
    --dataset fashion-mnist --threads "$threads" --json > "$out/$1-$3.json" \
    2> "$out/$1-$3.err"
}
recipe() { echo "$2" > "$work/recipes/$1.json"; }

# ---- Pruning -----------------------------------------------------------------------------------
prune_rows=$out/prune_rows.txt
: > "$prune_rows"
prune_done=()  # "model model-path recipe" of the runs that wrote a report
prune_run() {  # model-name model-path recipe-name
  if compress "$1" "$2" "$3"; then
    prune_done+=("$1 $2 $3")
  else
    echo "| $1 | $3 | failed: $(tail -1 "$out/$1-$3.err") |" >> "$prune_rows"
  fi
}
# Timed after every run has finished, so that no compression shares the machine with a timing.
prune_rows() {
  local m p r ort ob oa rb ra
  for run in "${prune_done[@]}"; do
    read -r m p r <<< "$run"
    ort=$(ort_accuracy "$out/$m-$r.onnx")
    ob=$(ours_ms "$p"); oa=$(ours_ms "$out/$m-$r.onnx")
    rb=$(ort_ms "$p"); ra=$(ort_ms "$out/$m-$r.onnx")
    $py - "$out/$m-$r.json" "$m" "$r" "$ort" "$ob" "$oa" "$rb" "$ra" >> "$prune_rows" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
m, r, ort, ob, oa, rb, ra = sys.argv[2:9]
sp = lambda b, a: "%.2fx" % (float(b) / float(a)) if "n/a" not in (a, b) else "n/a"
t = j.get("timings", {})
wall = t.get("apply_seconds", 0) + t.get("train_seconds", 0) + t.get("convert_seconds", 0)
print("| %s | %s | %.3f | %.3f | %.3f | %.4f | %.4f | %+.2f | %s | %s / %s (%s) | %s / %s (%s) | %.0f | %s |" % (
    m, r, j["flops_after"] / j["flops_before"], j["params_after"] / j["params_before"],
    j["bytes_after"] / j["bytes_before"], j["accuracy_before"], j["accuracy_after"],
    100 * (j["accuracy_after"] - j["accuracy_before"]), ort, ob, oa, sp(ob, oa), rb, ra, sp(rb, ra),
    wall, "yes" if j["verified"] else "NO"))
PY
  done
}

ft="\"train\":{\"epochs\":$ft_epochs}"
control_rows=""
for m in $models; do
  p=$(model_path "$m")
  tgt=$target
  [[ $m == mobilenetv2-tiny ]] && tgt=$mbv2_target
  if wants control; then
    # The control: the float model fine-tuned with the same budget and the pruning algorithms'
    # fine-tuning defaults (SGD momentum 0.9, lr 0.01, cosine), nothing pruned.
    c=$out/$m-control-ft$ft_epochs
    if [[ ! ( $reuse == 1 && -s $c.json ) ]]; then
      "$cli" train --model "$p" --dataset fashion-mnist --epochs "$ft_epochs" --lr 0.01 \
        --optimizer sgd --schedule cosine --threads "$threads" -o "$c.onnx" --json > "$c.json" \
        2> "$c.err" || true
    fi
    control_rows+="$($py - "$c.json" "$m" "$ft_epochs" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print("| %s | float model fine-tuned %s epochs, nothing pruned | %.4f |" % (sys.argv[2], sys.argv[3], j["test_accuracy"]))
except Exception as e:
    print("| %s | control failed: %s |" % (sys.argv[2], e))
PY
)"$'\n'
  fi
  for a in l1 bn_gamma; do
    if has $a; then
      recipe "$a-f$tgt-ft$ft_epochs" "{\"algorithm\":\"$a\",\"params\":{\"target_flops_ratio\":$tgt},$ft}"
      prune_run "$m" "$p" "$a-f$tgt-ft$ft_epochs"
    fi
  done
  if has scop; then
    recipe "scop-f$tgt-kf$kf_epochs-ft$ft_epochs" "{\"algorithm\":\"scop\",\"params\":{\"target_flops_ratio\":$tgt,\"kf_epochs\":$kf_epochs},$ft}"
    prune_run "$m" "$p" "scop-f$tgt-kf$kf_epochs-ft$ft_epochs"
  fi
done

[[ ${#prune_done[@]} -gt 0 ]] && prune_rows
if [[ -s $prune_rows ]]; then
  echo
  echo "## Structured pruning (Fashion-MNIST test set, 10,000 images; fine-tuned $ft_epochs epochs; $threads threads)"
  echo
  echo "| model | recipe | FLOPs kept | params kept | file size | float | pruned | change (pt) | ONNX Runtime | ours b64 ms before / after (speed-up) | ORT b64 ms before / after (speed-up) | wall s | verified |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$prune_rows"
fi
if [[ -n $control_rows ]]; then
  echo
  echo "| model | control | test accuracy |"
  echo "|---|---|---|"
  printf "%s" "$control_rows"
fi

# ---- SLB ---------------------------------------------------------------------------------------
slb_rows=$out/slb_rows.txt
: > "$slb_rows"
slb_run() {  # model-name model-path bits init bnc
  local m=$1 p=$2 b=$3 init=$4 bnc=$5 r ort
  r="slb-w$b-init$init-bnc$bnc-e$slb_epochs-te$slb_t_end-tf$slb_t_factor"
  recipe "$r" "{\"algorithm\":\"slb\",\"params\":{\"weight_bits\":$b,\"init_from_weights\":$init,\"enable_bn_calibration\":$bnc,\"epoch_size\":$slb_epochs,\"t_end_time\":$slb_t_end,\"t_factor\":$slb_t_factor},\"train\":{\"epochs\":$slb_epochs}}"
  if ! compress "$m" "$p" "$r"; then
    echo "| $m | $b | $init | $bnc | failed: $(tail -1 "$out/$m-$r.err") |" >> "$slb_rows"
    return
  fi
  ort=$(ort_accuracy "$out/$m-$r.onnx")
  $py - "$out/$m-$r.json" "$m" "$b" "$init" "$bnc" "$ort" "$slb_epochs" "$slb_t_end" "$slb_t_factor" >> "$slb_rows" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
m, b, init, bnc, ort, epochs, t_end, t_factor = sys.argv[2:10]
t = j.get("timings", {})
wall = t.get("apply_seconds", 0) + t.get("train_seconds", 0) + t.get("convert_seconds", 0)
packed_w = sum(l.get("packed_bytes", 0) for l in j.get("layers", []))
weights = packed_w * 8 / int(b)  # stored as int8 codes in the file: one byte each
packed = int(j["bytes_after"] - weights + packed_w) if packed_w else None
print("| %s | W%s | %s / %s / %s | %s | %s | %.4f | %.4f | %+.2f | %s | %s | %s | %.0f | %s |" % (
    m, b, epochs, t_end, t_factor, init, bnc, j["accuracy_before"], j["accuracy_after"],
    100 * (j["accuracy_after"] - j["accuracy_before"]), ort, "{:,}".format(j["bytes_after"]),
    "{:,}".format(packed) if packed else "-", wall, "yes" if j["verified"] else "NO"))
PY
}
if has slb; then
  for m in $models; do
    [[ $m == resnet20 ]] || continue
    p=$(model_path "$m")
    for run in $slb_runs; do
      case $run in
        w[124]) slb_run "$m" "$p" "${run#w}" true true ;;
        w[124]-ablation)
          b=${run#w}; b=${b%-ablation}
          slb_run "$m" "$p" "$b" false true; slb_run "$m" "$p" "$b" true false
          slb_run "$m" "$p" "$b" false false ;;
        *) echo "unknown SLB run $run" >&2; exit 1 ;;
      esac
    done
  done
fi
if [[ -s $slb_rows ]]; then
  echo
  echo "## SLB low-bit weights (Fashion-MNIST test set, 10,000 images; $slb_epochs epochs; $threads threads)"
  echo
  echo "| model | weights | epochs / t_end_time / t_factor | init_from_weights | BN calibration | float | SLB | change (pt) | ONNX Runtime | file bytes | file with b-bit packed weights | wall s | verified |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$slb_rows"
fi
