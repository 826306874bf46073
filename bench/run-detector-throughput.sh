#!/usr/bin/env bash
# run-detector-throughput.sh - what the budget knob buys a client of the
# COCO detector, end to end:
#   1. POST /detect on stippled under wrk (loopback, 1 thread, 2 connections,
#      one budget per run: dense, 0.5, 0.25), requests per second, the three
#      budgets interleaved over ROUNDS rounds;
#   2. `stipple detect` on a 1280x720 photo (decode + inference as the CLI
#      reports them, the process start and model load excluded), RUNS runs
#      per budget, interleaved.
# Prints a Markdown table: min and median over rounds/runs, and each
# budget's ratio to the dense run (requests: budget / dense; time: budget /
# dense).
#
#   bench/run-detector-throughput.sh BUILD_DIR MODEL PHOTO
#
# PHOTO is resized to 1280x720 for step 2 and used as it is for step 1.
# Environment: ROUNDS (default 3), SECONDS_PER_RUN (default 8), RUNS
# (default 15), WORKERS (stippled --workers, default 1), THREADS (threads
# per worker, default 2), PYTHON_TORCH.
set -euo pipefail
build=$1 model=$2 photo=$3
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
rounds=${ROUNDS:-3} seconds=${SECONDS_PER_RUN:-8} runs=${RUNS:-15}
workers=${WORKERS:-1} threads=${THREADS:-2}
budgets="dense 0.5 0.25"
command -v wrk >/dev/null || { echo "run-detector-throughput: wrk is missing (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stipple-throughput.XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/repo/m/1"
cp "$model" "$tmp/repo/m/1/model.stp"
"$py" -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").resize((1280, 720), Image.BILINEAR).save(sys.argv[2], quality=92)' \
	"$photo" "$tmp/720p.jpg"

port=$((20000 + RANDOM % 20000))
"$build/stippled" --listen "127.0.0.1:$port" --models "$tmp/repo" --workers "$workers" \
	--threads_per_worker "$threads" --log_level warn >"$tmp/stippled.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -sf "localhost:$port/v2/health/ready" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "localhost:$port/v2/health/ready" >/dev/null || { cat "$tmp/stippled.log" >&2; exit 1; }

for r in $(seq "$rounds"); do
	for b in $budgets; do
		rho=$b
		[ "$b" = dense ] && rho=1
		WRK_ROUTE=detect WRK_MODEL=m WRK_IMAGE=$photo WRK_BUDGETS=$rho \
			wrk -t1 -c2 -d"${seconds}s" -s "$here/wrk-infer.lua" "http://127.0.0.1:$port" \
			>"$tmp/wrk.txt"
		echo "$b $(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.txt")" >>"$tmp/rps"
		echo "round $r budget $b: $(tail -1 "$tmp/rps" | cut -d' ' -f2) req/s" >&2
	done
done
kill "$pid"
wait "$pid" 2>/dev/null || true

for r in $(seq "$runs"); do
	for b in $budgets; do
		"$build/stipple" detect "$model" "$tmp/720p.jpg" --budget "$b" --threads "$threads" \
			--json | "$py" -c 'import json, sys; d = json.load(sys.stdin); print(sys.argv[1], d["timing_ms"]["decode"] + d["timing_ms"]["infer"], d["cost"]["network_gmacs"], d["cost"]["dense_network_gmacs"])' "$b" >>"$tmp/cli"
	done
done

"$py" - "$tmp/rps" "$tmp/cli" <<'PY'
import statistics
import sys
rps, cli = {}, {}
for line in open(sys.argv[1]):
    b, v = line.split()
    rps.setdefault(b, []).append(float(v))
for line in open(sys.argv[2]):
    b, ms, g, dg = line.split()
    cli.setdefault(b, []).append((float(ms), float(g) / float(dg)))
print("| budget | /detect req/s, min | median | x dense (median) | stipple detect 1280x720 ms, min | median | x dense (median) | network cost |")
print("|---|---|---|---|---|---|---|---|")
base_r = statistics.median(rps["dense"])
base_t = statistics.median(t for t, _ in cli["dense"])
for b in ("dense", "0.5", "0.25"):
    t = [v for v, _ in cli[b]]
    print("| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.2f |" % (
        b, min(rps[b]), statistics.median(rps[b]), statistics.median(rps[b]) / base_r,
        min(t), statistics.median(t), statistics.median(t) / base_t, cli[b][0][1]))
PY
