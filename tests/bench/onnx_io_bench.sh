#!/usr/bin/env bash
# ONNX I/O speed: whittle-cli against python3-onnx, measured in the same run with hyperfine.
#
# Usage: tests/bench/onnx_io_bench.sh [WHITTLE_CLI] [--dir DIR] [--runs N] [--python-only]
#   WHITTLE_CLI  path to whittle-cli (default build/app/whittle-cli in the repository)
#   --dir DIR    where the models live / are generated (default /tmp/whittle-bench)
#   --runs N     hyperfine runs per command (default 5, minimum 5; warmup is always 1)
#   --python-only  measure only the python3-onnx peer
#
# Targets (issue): `whittle-cli info` on a ~100k-node model < 1 s; import + export
# (`whittle-cli convert`) of a ~100 MB model < 1 s.
# Models come from tests/bench/make_io_models.py (run here if missing).
# Python peer rows also show "net" = mean − mean of `python3 -c "import onnx"` (interpreter +
# import start-up), with sd combined as sqrt(sd² + sd_startup²). "user+sys" is the mean CPU time
# (less disturbed than wall time when other work shares the cores). Run it on an idle machine.
# Prints a markdown table on stdout; writes nothing into the repository.
# Needs: hyperfine, /usr/bin/python3 with python3-onnx and python3-numpy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PY=/usr/bin/python3   # Debian's interpreter with python3-onnx; the python3 first on PATH may lack it

cli="$repo/build/app/whittle-cli"
dir=/tmp/whittle-bench
runs=5
python_only=0
while (($#)); do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --python-only) python_only=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "onnx_io_bench: unknown option $1" >&2; exit 1 ;;
    *) cli="$1"; shift ;;
  esac
done
((runs >= 5)) || runs=5

command -v hyperfine >/dev/null || { echo "onnx_io_bench: hyperfine not installed (apt-get install hyperfine)" >&2; exit 1; }
"$PY" -c 'import onnx, numpy' 2>/dev/null || { echo "onnx_io_bench: $PY cannot import onnx/numpy (apt-get install python3-onnx python3-numpy)" >&2; exit 1; }

mkdir -p "$dir"
small="$dir/nodes100k.onnx"
big="$dir/big100mb.onnx"
if [[ ! -f "$small" || ! -f "$big" ]]; then
  "$PY" "$here/make_io_models.py" "$dir" >&2
fi
work="$(mktemp -d "$dir/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --- does whittle-cli exist and answer `info --json` with a real summary? -------------------
use_cli=0
if ((python_only == 0)); then
  if [[ ! -x "$cli" ]]; then
    echo "onnx_io_bench: $cli not found — measuring the python peer only" >&2
  elif ! "$cli" info "$small" --json >"$work/info.json" 2>"$work/info.err"; then
    echo "onnx_io_bench: '$cli info --json' failed ($(head -c 300 "$work/info.err")) — python peer only" >&2
  elif ! "$PY" - "$work/info.json" "$small" >&2 <<'EOF'
import json, sys, onnx
try:
    got = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("onnx_io_bench: whittle-cli info --json did not print JSON — python peer only")
want = len(onnx.load(sys.argv[2], load_external_data=False).graph.node)
if not isinstance(got, dict) or got.get("nodes") != want:
    sys.exit("onnx_io_bench: whittle-cli info reports nodes=%r, the model has %d — python peer only"
             % (got.get("nodes") if isinstance(got, dict) else got, want))
EOF
  then
    :
  else
    use_cli=1
  fi
fi

# --- measure ---------------------------------------------------------------------------------
# -N: no intermediate shell, so nothing is subtracted/added by hyperfine's shell correction.
args=(-N --warmup 1 --runs "$runs" --export-json "$work/result.json" --style basic)
add() { args+=(--command-name "$1" "$2"); }

add "python3-onnx|start-up (python3 -c 'import onnx')|-" "$PY -c 'import onnx'"
if ((use_cli)); then
  add "whittle-cli|info --json|nodes100k" "$cli info $small --json"
fi
add "python3-onnx|onnx.load|nodes100k" "$PY -c 'import onnx; onnx.load(\"$small\")'"
if ((use_cli)); then
  add "whittle-cli|convert --json (import + export)|big100mb" "$cli convert $big $work/whittle_big.onnx --json"
fi
add "python3-onnx|onnx.load|big100mb" "$PY -c 'import onnx; onnx.load(\"$big\")'"
add "python3-onnx|onnx.load + onnx.save|big100mb" "$PY -c 'import onnx; onnx.save(onnx.load(\"$big\"), \"$work/py_big.onnx\")'"
if ((use_cli)); then
  add "whittle-cli|convert --json (import + export)|nodes100k" "$cli convert $small $work/whittle_small.onnx --json"
fi
add "python3-onnx|onnx.load + onnx.save|nodes100k" "$PY -c 'import onnx; onnx.save(onnx.load(\"$small\"), \"$work/py_small.onnx\")'"

echo "onnx_io_bench: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
hyperfine "${args[@]}" >&2
echo "onnx_io_bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- sanity: whittle-cli's convert output must be a valid, equivalent model --------------------
if ((use_cli)); then
  "$PY" - "$big" "$work/whittle_big.onnx" "$small" "$work/whittle_small.onnx" >&2 <<'EOF'
import sys, onnx
from onnx import numpy_helper
for src, out in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    a, b = onnx.load(src), onnx.load(out)
    onnx.checker.check_model(b)
    ok = len(a.graph.node) == len(b.graph.node) and \
        sum(numpy_helper.to_array(t).nbytes for t in a.graph.initializer) == \
        sum(numpy_helper.to_array(t).nbytes for t in b.graph.initializer)
    print("onnx_io_bench: convert output %s: checker ok, %d nodes, initializer bytes %s" %
          (out.rsplit("/", 1)[-1], len(b.graph.node), "match" if ok else "DIFFER"))
    if not ok:
        sys.exit(1)
EOF
fi

# --- table -----------------------------------------------------------------------------------
"$PY" - "$work/result.json" "$small" "$big" <<'EOF'
import json, math, os, sys
res = json.load(open(sys.argv[1]))["results"]
sizes = {"nodes100k": os.path.getsize(sys.argv[2]), "big100mb": os.path.getsize(sys.argv[3])}
rows = []
base = None
for r in res:
    tool, task, model = r["command"].split("|")
    rows.append((tool, task, model, r["mean"], r["stddev"] or 0.0, r["user"] + r["system"]))
    if task.startswith("start-up"):
        base = (r["mean"], r["stddev"] or 0.0)
targets = {("info --json", "nodes100k"): 1.0, ("convert --json (import + export)", "big100mb"): 1.0}
print("| tool | task | model | mean s | ± sd | net s (− python start-up) | user+sys s | target |")
print("|---|---|---|---:|---:|---:|---:|---|")
for tool, task, model, mean, sd, cpu in rows:
    label = "%s (%.1f MB)" % (model, sizes[model] / 1e6) if model in sizes else model
    if tool == "python3-onnx" and base and not task.startswith("start-up"):
        net = "%.3f ± %.3f" % (mean - base[0], math.sqrt(sd * sd + base[1] * base[1]))
    elif tool == "whittle-cli":
        net = "%.3f (native, no start-up to subtract)" % mean
    else:
        net = "—"
    t = targets.get((task, model)) if tool == "whittle-cli" else None
    target = "" if t is None else "< %g s: wall %s, CPU %s" % (
        t, "met" if mean < t else "MISSED", "met" if cpu < t else "MISSED")
    print("| %s | %s | %s | %.3f | %.3f | %s | %.3f | %s |" % (tool, task, label, mean, sd, net, cpu, target))
EOF
