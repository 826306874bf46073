#!/bin/sh
# run-results.sh - the accuracy / cost / latency points of docs/results.md,
# all measured by `stipple eval` (C) on one test split:
#   - the budget knob of one trained sparse model: rho = 1 (dense), 0.75, 0.5,
#     0.35, 0.25, and auto (its trained masks); with EQUAL_SHARES_MODEL (the
#     same model without its calibration) the knob again with one density
#     for every mask;
#   - uniform sampling: a model run densely at lower input sizes (its
#     training size, then short sides 256, 224, 192, 160): UNIFORM_MODEL
#     (a model trained dense, without masks), or MODEL itself;
#   - every extra model given (e.g. other lambdas, the deterministic
#     variant), with its trained masks, or at a budget (LABEL=MODEL@RHO).
# Then bench/plot-results.py writes the table and the plot.
#
#   bench/run-results.sh BUILD_DIR TEST_DIR MODEL [LABEL=EXTRA_MODEL[@RHO] ...]
#
# Output: OUT.json, OUT-table.md, OUT.png; OUT by default ./results (the
# pages' figures are written only where OUT names them, e.g. docs/results-ft8).
# Environment: THREADS (default 2), LIMIT (images, default all),
# UNIFORM_MODEL (default MODEL), EQUAL_SHARES_MODEL (default none), OUT.
set -eu
build=$1 data=$2 model=$3
shift 3
top=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
threads=${THREADS:-2}
limit=${LIMIT:+--limit $LIMIT}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-results.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/points.jsonl

point() {   # kind label model [eval args]
	kind=$1 label=$2 m=$3
	shift 3
	echo "results: $kind $label" >&2
	# shellcheck disable=SC2086
	"$build/stipple" eval "$m" "$data" --threads "$threads" $limit --json "$@" |
		"$py" -c 'import json, sys; r = json.load(sys.stdin); r.update(kind=sys.argv[1], label=sys.argv[2]); print(json.dumps(r))' "$kind" "$label" >>"$out"
}

for rho in dense 0.75 0.5 0.35 0.25; do
	point budget "rho=$rho" "$model" --budget "$rho"
done
point trained "trained masks" "$model"
if [ -n "${EQUAL_SHARES_MODEL:-}" ]; then
	for rho in 0.75 0.5 0.35 0.25; do
		point budget_equal "rho=$rho" "$EQUAL_SHARES_MODEL" --budget "$rho"
	done
fi
uniform=${UNIFORM_MODEL:-$model}
for side in 256 224 192 160; do
	cp "$uniform" "$tmp/side.stp"
	PYTHONPATH=$top/train "$py" -m stipple_train.set_input "$tmp/side.stp" --short-side "$side" \
		--max-long-side $((side * 8 / 5))
	point uniform "short side $side" "$tmp/side.stp" --budget dense
done
point uniform "training size" "$uniform" --budget dense
for extra in "$@"; do
	spec=${extra#*=}
	case $spec in
	*@*) point model "${extra%%=*}" "${spec%@*}" --budget "${spec##*@}" ;;
	*) point model "${extra%%=*}" "$spec" ;;
	esac
done
dest=${OUT:-results}
cp "$out" "$dest.json"
"$py" "$top/bench/plot-results.py" "$dest.json" "$dest.png" >"$dest-table.md"
echo "results: $dest.json, $dest-table.md, $dest.png" >&2
