#!/usr/bin/env bash
# test-cli.sh - end-to-end checks of the stipple command-line tool.
#
# Runs $top_builddir/stipple on a small valid model: the first file of
# tests/fuzz/corpus that `stipple info` loads (names with "valid" or "tiny"
# tried first), or else a random-init ResNet-18 exported by train/ with
# $PYTHON_TORCH (skipped, exit 77, when neither exists). Checks --version and
# help, that info prints the parameter count and GMACs, that bench --json is
# one valid JSON object with the documented keys (also on a photo input,
# and a missing photo exits 1 naming it), that every bad argument
# exits 2 with one line on stderr and nothing on stdout, that a model that
# cannot be loaded exits 1 with the loader's message, and that a dense
# ResNet-101 with deformable convs in c3-c5 (all-zero weights, written by
# plain python3) reports the official 70.0 / 100.2 / 184.1 / 289.5 G at
# r = 500 / 600 / 800 / 1000 (docs/method.md section 6) and refuses to run. Ends with
# "N passed, N failed"; exit 0 pass, 1 fail, 77 skip, 99 harness error.
set -u

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PYTHON_TORCH=${PYTHON_TORCH:-/usr/bin/python3}
stipple=$top_builddir/stipple
[ -x "$stipple" ] || { echo "test-cli: $stipple not built"; exit 99; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# expect MESSAGE COMMAND...: one check, passed when COMMAND succeeds.
expect() {
	local msg=$1
	shift
	if "$@"; then pass; else fail "$msg"; fi
}

# json_check FILE EXPR: FILE holds exactly one JSON object d and the Python
# expression EXPR over d is true. A python3 without torch is enough here.
json_python=$PYTHON_TORCH
"$json_python" -c 'import json' 2>/dev/null || json_python=python3
json_check() {
	"$json_python" - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    text = f.read()
d = json.loads(text)
if not isinstance(d, dict) or len(text.strip().splitlines()) != 1:
    sys.exit("not one JSON object on one line")
if not eval(sys.argv[2], {"d": d}):
    sys.exit("false: " + sys.argv[2])
EOF
}

# ---- find or make a model ------------------------------------------------------
model=
corpus=$top_srcdir/tests/fuzz/corpus
if [ -d "$corpus" ]; then
	for f in "$corpus"/*valid* "$corpus"/*tiny* "$corpus"/*; do
		[ -f "$f" ] || continue
		if "$stipple" info "$f" --size 64x64 >/dev/null 2>&1; then
			model=$f
			break
		fi
	done
fi
if [ -z "$model" ]; then
	if ! "$PYTHON_TORCH" -c 'import torch' 2>/dev/null; then
		echo "SKIP: no loadable model in $corpus and no torch in $PYTHON_TORCH to make one"
		exit 77
	fi
	model=$tmp/resnet18.stp
	if ! PYTHONPATH=$top_srcdir/train "$PYTHON_TORCH" -m stipple_train.export \
		--arch resnet18 --random-init --seed 1 -o "$model" >"$tmp/export.log" 2>&1; then
		cat "$tmp/export.log"
		echo "SKIP: no loadable model in $corpus and stipple_train.export failed"
		exit 77
	fi
fi
echo "model: $model"

# run NAME EXPECTED_RC ARGS...: runs stipple, output in $tmp/out and $tmp/err.
run() {
	local name=$1 want=$2 rc
	shift 2
	"$stipple" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass
		return 0
	fi
	fail "$name: exit $rc, expected $want: stipple $*"
	sed 's/^/  | /' "$tmp/err" | head -5
	return 1
}

# ---- version and help ------------------------------------------------------------
run version 0 --version && expect "--version: $(cat "$tmp/out")" grep -q '^stipple [0-9]' "$tmp/out"
run help 0 --help && expect "--help lists no bench" grep -q '^ *bench ' "$tmp/out"
expect "--help lists no info" grep -q '^ *info ' "$tmp/out"
run help-bench 0 help bench && expect "help bench lists no --threads" grep -q -- '--threads' "$tmp/out"
run bench-help 0 bench --help && expect "bench --help lists no --runs" grep -q -- '--runs' "$tmp/out"

# ---- info ----------------------------------------------------------------------------
if run info-json 0 info "$model" --size 64x64 --json; then
	cp "$tmp/out" "$tmp/info.json"
	expect "info --json: bad object: $(cat "$tmp/info.json")" json_check "$tmp/info.json" \
		'd["parameters"] > 0 and d["backbone_gmacs"] > 0 and d["total_gflops"] >= d["backbone_gmacs"] and d["size"] == [64, 64] and len(d["outputs"]) > 0 and isinstance(d["architecture"], dict)'
	params=$("$json_python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"])' "$tmp/info.json")
	if run info 0 info "$model" --size 64x64; then
		expect "info does not print the parameter count $params" grep -q "^parameters *$params " "$tmp/out"
		expect "info does not print GMACs" grep -q 'GMACs' "$tmp/out"
		expect "info does not print the backbone" grep -q '^backbone *resnet' "$tmp/out"
	fi
fi
# The official backbone cost of ResNet-18 at 224x224 is 1.8136 GMACs
# (torchvision's 1.81), dense or sparse: a basic block strides in conv1, a
# bottleneck in conv2, and a sparse block's cost must follow either.
if PYTHONPATH=$top_srcdir/train "$PYTHON_TORCH" -c '
import sys
from stipple_train import export
for arch in ("resnet18", "sparse-resnet18"):
    export.main(["--arch", arch, "--random-init", "-o", "%s/cost-%s.stp" % (sys.argv[1], arch)])
' "$tmp" >"$tmp/export.log" 2>&1; then
	for arch in resnet18 sparse-resnet18; do
		if run "info-cost-$arch" 0 info "$tmp/cost-$arch.stp" --size 224x224 --json; then
			expect "$arch at 224x224: $(cat "$tmp/out")" json_check "$tmp/out" \
				'abs(d["backbone_gmacs"] - 1.813561344) < 1e-9'
		fi
	done
else
	fail "exporting ResNet-18s for the cost check: $(tail -3 "$tmp/export.log")"
fi
# the bundled default model: sparse, its budget shares calibrated on val images
if run info-default 0 info "$top_srcdir/models/stipple-r18-detseg/1/model.stp"; then
	expect "info of the default model: $(grep sparse "$tmp/out")" \
		grep -q '^sparse *variant b, rbf kernel 7x7, grid stride 11; budget shares calibrated (16 masks' "$tmp/out"
fi
# the bundled COCO detector: a one-stage network, described as such
if run info-detector 0 info "$top_srcdir/models/nanodet-g/1/model.stp"; then
	expect "info of nanodet-g: $(head -4 "$tmp/out")" sh -c "
		grep -q '^backbone *cspnet, stem 32, stages (channels x blocks / stride) 32x1/1 64x2/2 128x2/2 256x3/2, LeakyReLU 0.1' '$tmp/out' &&
		grep -q '^neck *pan, in 128-256-512, out 128\$' '$tmp/out' &&
		grep -q '^heads *gfl, 80 classes, 80 named' '$tmp/out' &&
		grep -q '^parameters *3786068 ' '$tmp/out' &&
		grep -q '^cost *at 416x416: ' '$tmp/out'"
fi

# ---- bench ------------------------------------------------------------------------------
if run bench-json 0 bench "$model" --size 64x64 --threads 1 --runs 3 --warmup 1 --json; then
	cp "$tmp/out" "$tmp/bench.json"
	expect "bench --json lacks keys: $(cat "$tmp/bench.json")" json_check "$tmp/bench.json" \
		'all(k in d for k in ("median_ms", "min_ms", "mean_ms", "runs", "threads", "isa", "size", "backbone_gmacs", "total_gflops", "gflops_per_s", "peak_rss_mb", "workspace_mb", "model"))'
	expect "bench --json values: $(cat "$tmp/bench.json")" json_check "$tmp/bench.json" \
		'd["runs"] == 3 and d["threads"] == 1 and d["size"] == [64, 64] and 0 < d["min_ms"] <= d["median_ms"] and d["peak_rss_mb"] > 0 and d["gflops_per_s"] > 0'
fi
run bench-budget 0 bench "$model" --size 32x48 --runs 1 --budget 0.5 --mode stochastic --seed 3 --json &&
	expect "bench --budget (dense model: no masks): $(cat "$tmp/out")" json_check "$tmp/out" \
		'd["budget"] == 0.5 and d["mode"] == "stochastic" and d["seed"] == 3 and d["masks"] == 0 and d["density"] == 1 and d["backbone_gmacs"] == d["dense_backbone_gmacs"] > 0'
run bench-scalar 0 bench "$model" --size=33x47 --runs=1 --warmup=0 --isa=scalar --json &&
	expect "bench --isa scalar: $(cat "$tmp/out")" json_check "$tmp/out" 'd["isa"] == "scalar" and d["size"] == [33, 47]'
run bench-text 0 bench "$model" --size 32x32 --runs 1 && expect "bench text has no median" grep -q 'median' "$tmp/out"
run bench-image 0 bench "$model" --size 40x56 --runs 1 --image "$top_srcdir/examples/scene.jpg" --json &&
	expect "bench --image: $(cat "$tmp/out")" json_check "$tmp/out" 'd["size"] == [40, 56]'
run bench-no-image 1 bench "$model" --size 32x32 --runs 1 --image "$tmp/missing.jpg" &&
	expect "bench --image of a missing file: want one line naming it: $(cat "$tmp/err")" \
		grep -q 'cannot read .*missing.jpg' "$tmp/err"

# ---- deformable convs: the official cost, no runs -----------------------------------
# r -> HxW as the official calculator: h = (r//32)*32, w = (r*5/3//32)*32.
dcn_model=$tmp/resnet101-dcn.stp
if "$json_python" - "$dcn_model" <<'EOF'
import json, struct, sys
# A dense ResNet-101 feature extractor with DCN in c3-c5, all weights zero.
layers, widths, stem = [3, 4, 23, 3], [64, 128, 256, 512], 64
tensors = []
def conv(n, co, ci, k): tensors.append((n + ".weight", [co, ci, k, k]))
def bn(n, c): tensors.extend((n + "." + l, [c]) for l in ("weight", "bias", "running_mean", "running_var"))
conv("backbone.conv1", stem, 3, 7); bn("backbone.bn1", stem)
cin = stem
for s in range(4):
    pl = widths[s]
    for b in range(layers[s]):
        p = "backbone.layer%d.%d" % (s + 1, b)
        for i, (co, ci, k) in enumerate([(pl, cin, 1), (pl, pl, 3), (4 * pl, pl, 1)]):
            conv("%s.conv%d" % (p, i + 1), co, ci, k); bn("%s.bn%d" % (p, i + 1), co)
        if b == 0:
            conv(p + ".downsample.0", 4 * pl, cin, 1); bn(p + ".downsample.1", 4 * pl)
        cin = 4 * pl
arch = {"backbone": {"kind": "resnet", "depth": 101, "block": "bottleneck", "layers": layers,
        "stem_width": stem, "widths": widths, "bn_eps": 1e-5, "num_classes": 0, "sparse": None,
        "dcn": {"stages": [False, True, True, True], "deform_groups": 1, "modulated": False}},
        "neck": None, "heads": [], "classes": [],
        "input": {"channels": 3, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                  "resize": {"short_side": 800, "max_long_side": 1333}, "size_divisor": 32}}
header, off = {}, 0
for n, shape in tensors:
    size = 4
    for d in shape: size *= d
    header[n] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + size]}
    off += size
header["__metadata__"] = {"format": "stipple", "format_version": "1", "architecture": json.dumps(arch)}
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + off)
EOF
then
	for case in 480x832:70.0 576x992:100.2 800x1312:184.1 992x1664:289.5; do
		size=${case%:*} want=${case#*:}
		run "dcn-info-$size" 0 info "$dcn_model" --size "$size" --json &&
			expect "ResNet-101 DCN at $size: want $want G: $(cat "$tmp/out")" \
				json_check "$tmp/out" "'%.1f' % d['backbone_gmacs'] == '$want'"
	done
	run dcn-bench 1 bench "$dcn_model" --size 64x64 --runs 1 &&
		expect "DCN bench: want one line: $(cat "$tmp/err")" [ "$(wc -l <"$tmp/err")" -eq 1 ]
	rm -f "$dcn_model"
else
	fail "cannot write the ResNet-101 DCN model"
fi

# ---- bad arguments: exit 2, one line on stderr, nothing on stdout ---------------------
usage_case() {
	if run "usage: $*" 2 "$@"; then
		if [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ]; then
			pass
		else
			fail "usage: $*: want one stderr line and no stdout, got: $(cat "$tmp/err" "$tmp/out")"
		fi
	fi
}
usage_case
usage_case frobnicate
usage_case help frobnicate
usage_case info
usage_case info "$model" "$model"
usage_case info "$model" --size
usage_case info "$model" --size 64
usage_case info "$model" --size 0x64
usage_case info "$model" --size 64x16385
usage_case info "$model" --size 64x64x3
usage_case info "$model" --size x64
usage_case bench "$model" --threads 0
usage_case bench "$model" --budget 0
usage_case bench "$model" --budget 1.5
usage_case bench "$model" --budget half
usage_case bench "$model" --mode random
usage_case bench "$model" --seed -1
usage_case bench "$model" --threads 257
usage_case bench "$model" --threads abc
usage_case bench "$model" --threads 2.5
usage_case bench "$model" --threads ''
usage_case bench "$model" --threads 99999999999999999999999
usage_case bench "$model" --runs 0
usage_case bench "$model" --runs 100001
usage_case bench "$model" --runs -3
usage_case bench "$model" --warmup -1
usage_case bench "$model" --isa sse9
usage_case bench "$model" --json=yes
usage_case bench "$model" --frobnicate
usage_case bench "$model" -t 2
usage_case bench --runs 2
usage_case detect
usage_case detect "$model" "$model" "$model"
usage_case segment "$model" x.png -o
usage_case segment "$model" x.png -o ''
usage_case segment "$model" x.png -x out.png
usage_case eval "$model" dir --limit 0
usage_case eval
usage_case eval "$model" dir extra
usage_case eval "$model" dir --budget 2
usage_case eval "$model" dir --mode fast
usage_case eval "$model" dir --seed -1
usage_case eval "$model" dir --json=1

# ---- models that do not load: exit 1 with the loader's message --------------------------
missing=$tmp/no-such-model.stp
run missing-info 1 info "$missing" &&
	expect "missing model: message names no file: $(cat "$tmp/err")" grep -q "no-such-model.stp" "$tmp/err"
run missing-bench 1 bench "$missing" --runs 1 &&
	expect "missing model: want one line: $(cat "$tmp/err")" [ "$(wc -l <"$tmp/err")" -eq 1 ]
printf 'not a model\n' >"$tmp/junk.stp"
run junk 1 info "$tmp/junk.stp" && expect "junk model: no message" [ -s "$tmp/err" ]
head -c 1000 "$model" >"$tmp/truncated.stp"
run truncated 1 bench "$tmp/truncated.stp" --runs 1

# ---- task commands: what they refuse --------------------------------------------------------
# (their results are checked against PyTorch by tests/golden/run-task-golden.sh
# and tests/cli/test-coco-xcheck.sh)
printf '\211PNG\r\n\032\n not really' >"$tmp/bad.png"
run detect-backbone 1 detect "$model" "$tmp/bad.png" &&
	expect "detect on a backbone: $(cat "$tmp/err")" grep -q "no detection head" "$tmp/err"
run segment-no-output 2 segment "$model" "$tmp/bad.png" &&
	expect "segment without -o: $(cat "$tmp/err")" grep -q -- "-o FILE" "$tmp/err"
run detect-missing-model 1 detect "$missing" "$tmp/bad.png" &&
	expect "detect, missing model: $(cat "$tmp/err")" grep -q "no-such-model.stp" "$tmp/err"
STIPPLE_MODEL=$missing run default-model 1 detect "$tmp/bad.png" &&
	expect "STIPPLE_MODEL names the default model: $(cat "$tmp/err")" grep -q "no-such-model.stp" "$tmp/err"
run eval-backbone 1 eval "$model" "$tmp" &&
	expect "eval without annotations: $(cat "$tmp/err")" grep -q "annotations.json" "$tmp/err"
run eval-no-dir 1 eval "$model" "$tmp/no-such-dir" &&
	expect "eval, missing folder: $(cat "$tmp/err")" grep -q "no-such-dir/annotations.json" "$tmp/err"
# malformed annotations are read before the model is loaded: one line naming
# the file, whatever the model
mkdir "$tmp/ds"
for text in '{"images": [' '[1, 2]' '{"images": 1, "categories": [], "annotations": []}' \
	'{"images": [{"id": 1, "file_name": "../x.jpg"}], "categories": [], "annotations": []}' \
	'{"images": [{"id": 1, "file_name": "x.jpg"}], "categories": [{"id": 1, "name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}'; do
	printf '%s' "$text" >"$tmp/ds/annotations.json"
	run "eval-malformed $text" 1 eval "$model" "$tmp/ds" &&
		expect "eval, malformed annotations $text: want one line: $(cat "$tmp/err")" \
			[ "$(wc -l <"$tmp/err")" -eq 1 ] &&
		expect "eval, malformed annotations $text: $(cat "$tmp/err")" \
			grep -q "ds/annotations.json" "$tmp/err"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
