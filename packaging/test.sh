#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test with ctest.
# Installs the peers too (PyTorch exports the torchvision models of the round-trip test).
#
# --sanitize: the same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build
# (-DWHITTLE_SANITIZE=ON) in its own folder (build-sanitize, or $WHITTLE_BUILD_DIR), leaks
# checked; any memory error, undefined behaviour or leak fails the test that shows it. Not
# part of CI: the sanitized build alone takes about 45 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "usage: packaging/test.sh [--sanitize]" >&2; exit 2 ;;
  esac
done
"$root/packaging/install-deps.sh" --peers
if [[ $sanitize == 1 ]]; then
  export WHITTLE_BUILD_DIR=${WHITTLE_BUILD_DIR:-$root/build-sanitize}
  "$root/packaging/build.sh" -DWHITTLE_BUILD_TESTS=ON -DWHITTLE_SANITIZE=ON
  # halt_on_error: undefined behaviour fails the test instead of printing and going on.
  # Suppressions: only leaks inside third-party libraries we cannot fix (see the file).
  export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS=suppressions=$root/packaging/lsan.supp:print_suppressions=0
else
  "$root/packaging/build.sh" -DWHITTLE_BUILD_TESTS=ON
fi
# Real architectures for the round-trip and parity tests (torchvision CNNs, the transformer,
# GPT-style, recurrent and control-flow corpus), a PyTorch-trained Fashion-MNIST
# classifier for the accuracy test and its FX int8 QDQ export for the int8 agreement test:
# made once, cached under tests/data/ (git-ignored).
"$root/tests/tools/export_torchvision.sh"
"$root/tests/tools/export_sequence_models.sh"
"$root/tests/tools/train_fashion_classifier.sh"
"$root/tests/tools/export_fx_qdq_classifier.sh"
build=${WHITTLE_BUILD_DIR:-$root/build}
export QT_QPA_PLATFORM=offscreen
cd "$build"
ctest --output-on-failure -j "${WHITTLE_JOBS:-$(nproc)}" --timeout 1200
