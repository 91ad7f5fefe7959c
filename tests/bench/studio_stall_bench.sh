#!/usr/bin/env bash
# The studio's GUI thread during and after a compression run, and its training throughput against
# whittle-cli's on the same recipe (bench_studio_stall, offscreen). Needs a build configured with
# -DWHITTLE_BUILD_BENCH=ON.
#
#   bash tests/bench/studio_stall_bench.sh MODEL RECIPE.json
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# -eq 2 ]] || { echo "usage: $0 MODEL RECIPE.json" >&2; exit 2; }
bin=$root/build/tests/bench/bench_studio_stall
[[ -x $bin ]] || cmake --build "$root/build" --target bench_studio_stall >&2
bash "$root/tests/bench/machine_info.sh" "$root/build/app/whittle-cli"
WHITTLE_PLUGIN_PATH=$root/build/app/plugins QT_QPA_PLATFORM=offscreen "$bin" "$1" "$2" 2>/dev/null
