#!/usr/bin/env bash
# README command 1: install what is missing, build, and open the studio on the sample model.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"
"$root/packaging/build.sh"
build=${WHITTLE_BUILD_DIR:-$root/build}
exec "$build/app/whittle" "$@" "$root/resources/samples/lenet5.onnx"
