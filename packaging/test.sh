#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/packaging/install-deps.sh"
"$root/packaging/build.sh" -DWHITTLE_BUILD_TESTS=ON
build=${WHITTLE_BUILD_DIR:-$root/build}
export QT_QPA_PLATFORM=offscreen
cd "$build"
ctest --output-on-failure -j "${WHITTLE_JOBS:-$(nproc)}" --timeout 1200
