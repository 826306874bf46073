# golden-env.sh - the setup shared by the end-to-end golden scripts
# (run-task-golden.sh, run-detect-golden.sh), sourced, not run.
#
# golden_setup NAME: the paths (srcdir, builddir, py, stipple), the torch
# check (exit 77 without it), a scratch directory $tmp removed on exit,
# PYTHONPATH for train/, and failed=0.
# draw_fixtures SEED NAME:HxW...: noise PNGs with four flat rectangles each,
# written to $tmp/NAME.png.
# harness_error MESSAGE: exit 99.
# check_task TASK TOLERANCE ARGS...: runs `stipple TASK ARGS... --json` and
# compares its reply (and, for segment, its label PNG) with $tmp/ref.json
# (and $tmp/ref.png) by compare_task.py; sets failed=1 on a difference.
#
# Environment (set by make check): top_srcdir, top_builddir, PYTHON_TORCH.

harness_error() {
	echo "HARNESS ERROR: $*"
	exit 99
}

golden_setup() {
	srcdir=${top_srcdir:-$(dirname "$0")/../..}
	builddir=${top_builddir:-.}
	py=${PYTHON_TORCH:-/usr/bin/python3}
	stipple=$builddir/stipple
	if ! "$py" -c 'import torch' >/dev/null 2>&1; then
		echo "SKIP: $py cannot import torch"
		exit 77
	fi
	[ -x "$stipple" ] || harness_error "$stipple not built"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-$1.XXXXXX") || exit 99
	trap 'rm -rf "$tmp"' EXIT
	PYTHONPATH=$srcdir/train${PYTHONPATH:+:$PYTHONPATH}
	OMP_NUM_THREADS=2
	export PYTHONPATH OMP_NUM_THREADS
	failed=0
}

check_task() {
	task=$1 tolerance=$2
	shift 2
	if [ "$task" = segment ]; then
		set -- "$@" -o "$tmp/c.png"
	fi
	if ! "$stipple" "$task" "$@" --json >"$tmp/c.json"; then
		echo "FAIL: stipple $task failed"
		failed=1
	elif [ "$task" = segment ]; then
		"$py" "$srcdir/tests/golden/compare_task.py" segment "$tmp/ref.json" "$tmp/c.json" \
			"$tmp/ref.png" "$tmp/c.png" "$tolerance" || failed=1
	else
		"$py" "$srcdir/tests/golden/compare_task.py" "$task" "$tmp/ref.json" "$tmp/c.json" \
			"$tolerance" || failed=1
	fi
}

draw_fixtures() {
	"$py" - "$tmp" "$@" <<'PY' || harness_error "cannot draw the fixtures"
import sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(int(sys.argv[2]))
for spec in sys.argv[3:]:
    name, size = spec.split(":")
    h, w = (int(v) for v in size.split("x"))
    a = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    for _ in range(4):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        a[y:y + h // 3, x:x + w // 3] = rng.integers(0, 256, 3)
    Image.fromarray(a).save("%s/%s.png" % (sys.argv[1], name))
PY
}
