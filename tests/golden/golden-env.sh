# golden-env.sh - the setup shared by the end-to-end golden scripts
# (run-task-golden.sh, run-detect-golden.sh), sourced, not run.
#
# golden_setup NAME: the paths (srcdir, builddir, py, stipple), the torch
# check (exit 77 without it), a scratch directory $tmp removed on exit,
# PYTHONPATH for train/, and failed=0.
# draw_fixtures SEED NAME:HxW...: noise PNGs with four flat rectangles each,
# written to $tmp/NAME.png.
# harness_error MESSAGE: exit 99.
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
