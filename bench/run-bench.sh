#!/usr/bin/env bash
# run-bench.sh - `make bench`: Stipple vs PyTorch vs ONNX Runtime, same weights.
#
# In one run, on one machine: measures the FP32 FMA peak (bench/fma-peak.c),
# exports each network once with train/ (random init, fixed seed), exports
# ONNX from that very file, then for every network x size x thread count runs
# `stipple bench --json`, bench/peer-torch.py and bench/peer-ort.js, each in
# its own process, one after the other. Optionally times ResNet-50's single
# convs with bench/bench-conv (see the HOOK below). bench/render-bench.py
# turns the JSON in $BENCH_OUT into the Markdown report, written to
# $BENCH_DOC (docs/benchmarks.md) and printed.
#
# Environment (defaults in brackets):
#   top_srcdir [..], top_builddir [.], PYTHON_TORCH [/usr/bin/python3], CC [cc]
#   BENCH_ARCHS ["resnet50 resnet50-fpn"]   stipple_train.export --arch names, or
#                                           "nanodet-g": the bundled COCO detector
#   BENCH_SIZES ["224x224 800x1216"]        HxW
#   BENCH_THREADS ["1 2"]
#   BENCH_RUNS_SMALL [20] timed runs at sizes up to 300k pixels, BENCH_RUNS_LARGE [5] above
#   BENCH_SEED [1], BENCH_TORCH_MODE [frozen] (or eager: see peer-torch.py)
#   BENCH_RUNTIMES ["stipple pytorch onnxruntime"]  which to run
#   BENCH_OUT [$top_builddir/bench/out], BENCH_DOC [$top_srcdir/docs/benchmarks.md]
#   BENCH_PEERS [$top_srcdir/bench/.peers]  where onnxruntime-node is installed
# Exit: 0 when the report was written (a runtime that failed shows "failed"
# in it), 1 when nothing could be measured.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-.}
PYTHON_TORCH=${PYTHON_TORCH:-/usr/bin/python3}
CC=${CC:-cc}
archs=${BENCH_ARCHS:-resnet50 resnet50-fpn}
sizes=${BENCH_SIZES:-224x224 800x1216}
threads_list=${BENCH_THREADS:-1 2}
runs_small=${BENCH_RUNS_SMALL:-20}
runs_large=${BENCH_RUNS_LARGE:-5}
seed=${BENCH_SEED:-1}
torch_mode=${BENCH_TORCH_MODE:-frozen}
runtimes=${BENCH_RUNTIMES:-stipple pytorch onnxruntime}
out=${BENCH_OUT:-$top_builddir/bench/out}
doc=${BENCH_DOC:-$top_srcdir/docs/benchmarks.md}
peers=${BENCH_PEERS:-$top_srcdir/bench/.peers}
stipple=$top_builddir/stipple
ort_version=1.30.0

say() { echo "run-bench: $*" >&2; }
die() { say "$*"; exit 1; }
wants() { [[ " $runtimes " == *" $1 "* ]]; }

mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.json "$out"/*.err
export PYTHONPATH=$top_srcdir/train${PYTHONPATH:+:$PYTHONPATH}

if wants stipple; then
	[ -x "$stipple" ] || die "$stipple is not built (run make first)"
fi
"$PYTHON_TORCH" -c 'import torch' 2>/dev/null ||
	die "$PYTHON_TORCH has no torch: apt-get install python3-torch (it exports the models)"

load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# ---- the FMA peak ------------------------------------------------------------------
"$CC" -std=c11 -O2 -D_GNU_SOURCE -pthread -o "$out/fma-peak" "$top_srcdir/bench/fma-peak.c" ||
	die "cannot compile bench/fma-peak.c with $CC"
for t in $threads_list; do
	say "FMA peak, $t thread(s)"
	"$out/fma-peak" --threads "$t" --json >"$out/fma-peak-$t.json" || say "fma-peak --threads $t failed"
done

# ---- ONNX Runtime, from npm (the shared library ships in onnxruntime-node) -----------
if wants onnxruntime; then
	if [ ! -d "$peers/node_modules/onnxruntime-node" ]; then
		if command -v npm >/dev/null; then
			say "installing onnxruntime-node@$ort_version into $peers"
			if ! (mkdir -p "$peers" && cd "$peers" &&
				ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund \
					"onnxruntime-node@$ort_version" >"$out/npm.log" 2>&1); then
				say "npm install failed (see $out/npm.log): no ONNX Runtime numbers"
			fi
		else
			say "no npm (apt-get install nodejs npm): no ONNX Runtime numbers"
		fi
	fi
	command -v node >/dev/null && [ -d "$peers/node_modules/onnxruntime-node" ] ||
		runtimes=${runtimes/onnxruntime/}
fi

# ---- models: one Stipple file per network; ONNX exported from it -----------------------
for arch in $archs; do
	if [ "$arch" = nanodet-g ]; then
		cp "$top_srcdir/models/nanodet-g/1/model.stp" "$out/$arch.stp" ||
			die "models/nanodet-g is missing"
	else
		say "exporting $arch (seed $seed)"
		"$PYTHON_TORCH" -m stipple_train.export --arch "$arch" --random-init --seed "$seed" \
			-o "$out/$arch.stp" >"$out/export-$arch.log" 2>&1 ||
			die "stipple_train.export --arch $arch failed: $(tail -3 "$out/export-$arch.log")"
	fi
	if wants onnxruntime; then
		for size in $sizes; do
			"$PYTHON_TORCH" "$top_srcdir/bench/peer-torch.py" "$out/$arch.stp" --size "$size" \
				--export-onnx "$out/$arch-$size.onnx" >"$out/export-$arch-$size.log" 2>&1 ||
				say "ONNX export of $arch at $size failed (see $out/export-$arch-$size.log)"
		done
	fi
done

# run_one RUNTIME ARCH SIZE THREADS RUNS: one timing, JSON into $out.
run_one() {
	local rt=$1 arch=$2 size=$3 t=$4 runs=$5 rc
	local base=$out/$rt-$arch-$size-t$t
	case $rt in
	stipple)
		"$stipple" bench "$out/$arch.stp" --size "$size" --threads "$t" --runs "$runs" \
			--warmup 1 --json ;;
	pytorch)
		"$PYTHON_TORCH" "$top_srcdir/bench/peer-torch.py" "$out/$arch.stp" --size "$size" \
			--threads "$t" --runs "$runs" --warmup 1 --mode "$torch_mode" ;;
	onnxruntime)
		NODE_PATH=$peers/node_modules node "$top_srcdir/bench/peer-ort.js" \
			"$out/$arch-$size.onnx" --size "$size" --threads "$t" --runs "$runs" --warmup 1 ;;
	esac >"$base.json" 2>"$base.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		say "$rt $arch $size ${t}t failed (exit $rc): $(tail -1 "$base.err")"
		rm -f "$base.json"
		return
	fi
	say "$rt $arch $size ${t}t: $(sed -n 's/.*"median_ms": *\([0-9.]*\).*/median \1 ms/p' "$base.json")"
}

for arch in $archs; do
	for size in $sizes; do
		h=${size%x*}
		w=${size#*x}
		runs=$runs_small
		[ $((h * w)) -gt 300000 ] && runs=$runs_large
		for t in $threads_list; do
			for rt in stipple pytorch onnxruntime; do
				wants "$rt" && run_one "$rt" "$arch" "$size" "$t" "$runs"
			done
		done
	done
done

# ---- HOOK: per-layer efficiency, bench/bench-conv (the lead's program) -----------------
# bench/bench-conv times each 3x3 and 1x1 conv shape of ResNet-50 on its own with the
# engine's conv op; `make bench` builds it. Usage it must keep:
#   bench-conv --size 224 --threads 1 --runs R --json
#   -> [{"layer", "size", "threads", "isa", "min_ms", "median_ms",
#        "gflops_per_s_best", "gflops_per_s_median"}, ...]
# render-bench.py compares gflops_per_s_best with the 1-thread FMA peak of that ISA.
if [ -x "$top_builddir/bench/bench-conv" ]; then
	say "per-layer convs, 1 thread"
	"$top_builddir/bench/bench-conv" --size 224 --threads 1 --runs 10 --json \
		>"$out/bench-conv-1t.json" 2>"$out/bench-conv-1t.err" || say "bench-conv failed"
else
	say "no $top_builddir/bench/bench-conv: per-layer table skipped"
fi

# ---- report --------------------------------------------------------------------------------
cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
topology="$(lscpu | sed -n 's/^Core(s) per socket: */cores per socket /p; s/^Thread(s) per core: */threads per core /p; s/^Socket(s): */sockets /p' | paste -sd ',' | sed 's/,/, /g')"
stipple_version=$([ -x "$stipple" ] && "$stipple" --version || echo "stipple (not built)")
torch_version=$("$PYTHON_TORCH" -c 'import torch; print(torch.__version__)')
# (from the build folder: no path of this machine in the report)
command="cd build && BENCH_ARCHS=\"$archs\" BENCH_SIZES=\"$sizes\" BENCH_THREADS=\"$threads_list\" BENCH_RUNS_SMALL=$runs_small BENCH_RUNS_LARGE=$runs_large BENCH_SEED=$seed BENCH_TORCH_MODE=$torch_mode make bench"
CPU_MODEL=$cpu_model CPUS=$(nproc) TOPOLOGY=$topology DATE=$(date -u '+%Y-%m-%d %H:%M UTC') \
LOADAVG="$load_start" \
STIPPLE_VERSION=$stipple_version TORCH_VERSION=$torch_version ORT_VERSION=$ort_version \
ARCHS=$archs SIZES=$sizes THREADS=$threads_list RUNS_SMALL=$runs_small RUNS_LARGE=$runs_large \
SEED=$seed TORCH_MODE=$torch_mode COMMAND=$command "$PYTHON_TORCH" - "$out/meta.json" <<'EOF' ||
import json, os, sys
e = os.environ
json.dump({"cpu_model": e["CPU_MODEL"], "cpus": int(e["CPUS"]), "cpu_topology": e["TOPOLOGY"],
           "date": e["DATE"], "loadavg": e["LOADAVG"], "stipple_version": e["STIPPLE_VERSION"],
           "torch_version": e["TORCH_VERSION"], "ort_version": e["ORT_VERSION"],
           "archs": e["ARCHS"].split(), "sizes": e["SIZES"].split(),
           "threads": [int(t) for t in e["THREADS"].split()],
           "runs_small": int(e["RUNS_SMALL"]), "runs_large": int(e["RUNS_LARGE"]),
           "seed": e["SEED"], "torch_mode": e["TORCH_MODE"], "command": e["COMMAND"]},
          open(sys.argv[1], "w"), indent=1)
EOF
	die "cannot write $out/meta.json"
ls "$out"/*-t[0-9]*.json >/dev/null 2>&1 || die "no runtime produced a result"
"$PYTHON_TORCH" "$top_srcdir/bench/render-bench.py" "$out" "$doc" || die "cannot render the report"
say "report written to $doc"
