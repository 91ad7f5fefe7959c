#!/usr/bin/env bash
# Configure and build Whittle (Release) into build/ . Extra arguments go to CMake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${WHITTLE_BUILD_DIR:-$root/build}
jobs=${WHITTLE_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
