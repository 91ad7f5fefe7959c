#!/bin/sh
# Layout benchmark: whittle-cli layout vs Graphviz dot on 1k/10k/100k-node residual chains
# (make_io_models.py --nodes N; sizes from $SIZES), plus GraphView open-to-first-frame (bench_graph_view).
#
#   tests/bench/layout_bench.sh [BUILD_DIR] [OUT_DIR]     (BUILD_DIR built with -DWHITTLE_BUILD_BENCH=ON)
#
# dot gets the same vertices and edges (whittle-cli layout --dot) and gives up after DOT_LIMIT s.
set -eu
BUILD=${1:-build}
OUT=${2:-/tmp/whittle-bench}
DOT_LIMIT=${DOT_LIMIT:-120}
CLI="$BUILD/app/whittle-cli"
mkdir -p "$OUT"
echo "| nodes | whittle-cli layout (s, wall) | layout only (s) | crossings | dot -Tsvg (s) |"
echo "|---|---|---|---|---|"
for n in ${SIZES:-1000 3000 10000 100000}; do
    model="$OUT/chain_$n.onnx"
    [ -f "$model" ] || /usr/bin/python3 "$(dirname "$0")/make_io_models.py" "$OUT/m$n" --nodes "$n" >/dev/null \
        && mv "$OUT/m$n/nodes100k.onnx" "$model" 2>/dev/null || true
    start=$(date +%s.%N)
    json=$("$CLI" layout "$model" --json --dot "$OUT/chain_$n.dot")
    end=$(date +%s.%N)
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    secs=$(echo "$json" | sed -n 's/.*"seconds": \([0-9.e-]*\).*/\1/p')
    cross=$(echo "$json" | sed -n 's/.*"crossings": \([0-9]*\).*/\1/p')
    nodes=$(echo "$json" | sed -n 's/.*"nodes": \([0-9]*\).*/\1/p')
    start=$(date +%s.%N)
    if timeout "$DOT_LIMIT" dot -Tsvg "$OUT/chain_$n.dot" -o "$OUT/chain_$n.svg"; then
        dot_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    else
        dot_s="> $DOT_LIMIT"
    fi
    printf '| %s | %.2f | %.3f | %s | %s |\n' "$nodes" "$wall" "$secs" "$cross" "$dot_s"
done
echo
echo "GraphView (offscreen, 1600x1000):"
"$BUILD/tests/bench/bench_graph_view" --dir "$OUT" 2>/dev/null
