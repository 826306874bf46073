"""server-bench.py - what stippled adds to the engine, and how it holds load.

Measures, in one run, on this machine:
 1. overhead: a 640x480 JPEG at budget 0.5, sent again and again on one
    keep-alive connection; the daemon's end-to-end latency (client clock)
    against `stipple bench` on the same model, preprocessed size and budget
    (the engine alone), min and median of each;
 2. wrk on loopback, 16 connections, budgets 0.25/0.5/1 mixed, for
    --wrk-seconds: p50/p90/p99, requests, and every status from /metrics
    (only 503 rejections may fail);
 3. throughput at budget 0.25 against budget 1 (wrk, same connections);
 4. memory: RSS of the daemon before and after --rss-requests requests on a
    small model (a ResNet-18 at short side 160, so 10,000 requests take
    minutes, not hours).
Writes a JSON file and a Markdown report.

Usage: server-bench.py --stippled BIN --stipple BIN --model FILE --small-model FILE
         --image JPEG --lua bench/wrk-infer.lua --json OUT.json --doc OUT.md
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import base64
import platform


def start(stippled, repo, default, extra=()):
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([stippled, "--listen", "127.0.0.1:0", "--models", repo,
                             "--default_model", default, "--access_log", "false",
                             "--queue_size", "64"] + list(extra),
                            stdout=subprocess.DEVNULL, stderr=log, text=True)
    for _ in range(1200):
        time.sleep(0.05)
        log.seek(0)
        m = re.search(r"listening on port (\d+)", log.read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
    log.seek(0)
    sys.exit("stippled did not start:\n" + log.read())


def repo_with(models, root):
    for name, path in models.items():
        os.makedirs(os.path.join(root, name, "1"))
        shutil.copy(path, os.path.join(root, name, "1", "model.stp"))
    return root


def infer_body(image, budget, output):
    return json.dumps({"parameters": {"sparsity_budget": budget, "binary_data_output": True},
                       "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                   "data": [base64.b64encode(image).decode()]}],
                       "outputs": [{"name": output}]})


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def metrics_statuses(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    out = {}
    for m in re.finditer(r'stipple_requests_total\{model="[^"]*",endpoint="(?:infer|detect|segment)",status="(\d+)"\} (\d+)', text):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def wait_idle(port):
    """wrk leaves requests queued when it stops; let the daemon finish them."""
    for _ in range(1200):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        if "stipple_queue_depth 0\n" in text and "stipple_in_flight 0\n" in text:
            return
        time.sleep(0.25)


def wrk(port, seconds, budgets, args, model, output, connections=16, detect_image=None,
        route="detect"):
    """wrk against KServe infer of `output`, or /detect (or /`route`) of
    detect_image when given."""
    env = dict(os.environ, WRK_IMAGE=detect_image or args.image, WRK_MODEL=model, WRK_OUTPUT=output,
               WRK_ROUTE=route if detect_image else "infer",
               WRK_BUDGETS=",".join(str(b) for b in budgets))
    wait_idle(port)
    before = metrics_statuses(port)
    r = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds,
                        "--timeout", "60s", "-s", args.lua, "http://127.0.0.1:%d" % port],
                       env=env, capture_output=True, text=True, check=True)
    line = [l for l in r.stdout.splitlines() if l.startswith("WRK_JSON ")][0]
    res = json.loads(line[len("WRK_JSON "):])
    after = metrics_statuses(port)
    res["statuses"] = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    res["throughput_rps"] = res["requests"] / res["duration_s"]
    wait_idle(port)
    return res


def overhead(args, port, image, budget, output, runs):
    body = infer_body(image, budget, output)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    lat = []
    for i in range(runs + 2):
        t0 = time.perf_counter()
        conn.request("POST", "/v2/models/big/infer", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        t1 = time.perf_counter()
        assert resp.status == 200, data[:200]
        if i >= 2:   # two warm-up requests
            lat.append((t1 - t0) * 1000)
    eng = subprocess.run([args.stipple, "bench", args.model, "--size", args.engine_size, "--threads",
                          str(args.threads), "--runs", str(runs), "--budget", str(budget), "--json"],
                         capture_output=True, text=True, check=True)
    e = json.loads(eng.stdout)
    return {"http_min_ms": min(lat), "http_median_ms": statistics.median(lat),
            "engine_min_ms": e["min_ms"], "engine_median_ms": e["median_ms"],
            "overhead_median": statistics.median(lat) / e["median_ms"] - 1,
            "overhead_min": min(lat) / e["min_ms"] - 1, "runs": runs}


def main():
    p = argparse.ArgumentParser()
    for a in ("stippled", "stipple", "model", "backbone_model", "small_model", "detect_model",
              "detect_image", "image", "lua", "json", "doc"):
        p.add_argument("--" + a.replace("_", "-"), required=True)
    p.add_argument("--engine-size", default="800x1088", help="the size the daemon feeds the engine")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--wrk-seconds", type=int, default=60)
    p.add_argument("--tput-seconds", type=int, default=30)
    p.add_argument("--rss-requests", type=int, default=10000)
    args = p.parse_args()
    with open(args.image, "rb") as f:
        image = f.read()
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": "%s, %d CPUs" % (platform.processor() or platform.machine(), os.cpu_count())}
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        out["machine"] = "%s, %d vCPUs" % (m.group(1) if m else "?", os.cpu_count())
    root = tempfile.mkdtemp()
    try:
        repo = repo_with({"big": args.model, "backbone": args.backbone_model,
                          "small": args.small_model, "detseg": args.detect_model},
                         os.path.join(root, "repo"))
        proc, port = start(args.stippled, repo, "big",
                           ["--workers", "1", "--threads_per_worker", str(args.threads)])
        try:
            print("overhead ...", file=sys.stderr)
            out["overhead"] = overhead(args, port, image, 0.5, "p6", args.runs)
            print("wrk mixed ...", file=sys.stderr)
            out["wrk_mixed"] = wrk(port, args.wrk_seconds, [0.25, 0.5, 1], args, "big", "p6")
            print("throughput ...", file=sys.stderr)
            out["tput_025"] = wrk(port, args.tput_seconds, [0.25], args, "big", "p6")
            out["tput_1"] = wrk(port, args.tput_seconds, [1], args, "big", "p6")
            out["tput_ratio"] = out["tput_025"]["throughput_rps"] / out["tput_1"]["throughput_rps"]
            out["bb_025"] = wrk(port, args.tput_seconds, [0.25], args, "backbone", "c5")
            out["bb_1"] = wrk(port, args.tput_seconds, [1], args, "backbone", "c5")
            out["bb_ratio"] = out["bb_025"]["throughput_rps"] / out["bb_1"]["throughput_rps"]
            out["detect"] = {str(b): wrk(port, args.tput_seconds, [b], args, "detseg", "",
                                         detect_image=args.detect_image) for b in (0.25, 0.5, 1)}
            out["detect_ratio"] = out["detect"]["0.25"]["throughput_rps"] / out["detect"]["1"]["throughput_rps"]
            out["segment"] = {str(b): wrk(port, args.tput_seconds, [b], args, "detseg", "",
                                          detect_image=args.detect_image, route="segment")
                              for b in (0.25, 0.5, 1)}
            print("rss ...", file=sys.stderr)
            rss0 = rss_kib(proc.pid)
            # warm the small model, then count requests until rss_requests
            w = wrk(port, 5, [0.5, 1], args, "small", "c5", connections=4)
            rss1 = rss_kib(proc.pid)
            done = w["requests"]
            samples = [(done, rss1)]
            while done < args.rss_requests:
                w = wrk(port, 10, [0.5, 1], args, "small", "c5", connections=4)
                done += w["requests"]
                samples.append((done, rss_kib(proc.pid)))
            out["rss"] = {"before_kib": rss0, "after_warmup_kib": rss1, "samples": samples,
                          "growth": samples[-1][1] / rss1 - 1}
        finally:
            proc.send_signal(signal.SIGTERM)
            out["exit_code"] = proc.wait(60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    with open(args.doc, "w") as f:
        f.write(render(out, args))
    print(open(args.doc).read())


def statuses(r):
    return ", ".join("%s: %d" % kv for kv in sorted(r["statuses"].items()))


def budget_table(by_budget):
    """Markdown rows of wrk results by budget."""
    return ["| budget | req/s | p50 ms | p99 ms | statuses |", "|---|---|---|---|---|"] + [
        "| %s | %.2f | %.0f | %.0f | %s |" % (b, r["throughput_rps"], r["p50_ms"], r["p99_ms"],
                                             statuses(r)) for b, r in by_budget.items()]


def render(o, args):
    ov, wm, t25, t1, rss = o["overhead"], o["wrk_mixed"], o["tput_025"], o["tput_1"], o["rss"]
    b25, b1 = o["bb_025"], o["bb_1"]
    lines = [
        "# stippled benchmarks",
        "",
        "Written by `make bench-server` (bench/run-server-bench.sh, bench/server-bench.py) on %s, %s." % (o["date"], o["machine"]),
        "Model: `%s` (random weights, sparse masks), one worker with %d engine threads;" % (os.path.basename(args.model), args.threads),
        "wrk and the daemon share the machine's CPUs. KServe v2 requests, one 640x480 JPEG",
        "(%d bytes), output p6 as binary data. Status 499: requests still queued or running" % os.path.getsize(args.image),
        "when wrk stopped and closed their connections (dropped or abandoned, not computed).",
        "",
        "## HTTP, decoding and JSON against the engine alone (budget 0.5)",
        "",
        "| | min ms | median ms |",
        "|---|---|---|",
        "| `stipple bench` at %s (engine only) | %.1f | %.1f |" % (args.engine_size, ov["engine_min_ms"], ov["engine_median_ms"]),
        "| stippled, end to end on one connection | %.1f | %.1f |" % (ov["http_min_ms"], ov["http_median_ms"]),
        "| overhead | %+.1f%% | %+.1f%% |" % (100 * ov["overhead_min"], 100 * ov["overhead_median"]),
        "",
        "Target: at most +5%%. %d requests after 2 warm-ups; the engine-only runs are `stipple bench --runs %d`." % (ov["runs"], ov["runs"]),
        "",
        "## wrk, %d s, 16 connections, budgets 0.25 / 0.5 / 1 in turn" % args.wrk_seconds,
        "",
        "| requests | req/s | p50 ms | p90 ms | p99 ms | max ms | statuses | socket errors |",
        "|---|---|---|---|---|---|---|---|",
        "| %d | %.2f | %.0f | %.0f | %.0f | %.0f | %s | %d |" % (
            wm["requests"], wm["throughput_rps"], wm["p50_ms"], wm["p90_ms"], wm["p99_ms"], wm["max_ms"],
            statuses(wm),
            wm["errors_connect"] + wm["errors_read"] + wm["errors_timeout"]),
        "",
        "## Throughput by budget (wrk, %d s each, 16 connections)" % args.tput_seconds,
        "",
        "| model | budget | req/s | p50 ms | p99 ms | statuses |",
        "|---|---|---|---|---|---|",
        "| R50-FPN (%s) | 0.25 | %.2f | %.0f | %.0f | %s |" % (os.path.basename(args.model), t25["throughput_rps"], t25["p50_ms"], t25["p99_ms"], statuses(t25)),
        "| R50-FPN | 1 (dense) | %.2f | %.0f | %.0f | %s |" % (t1["throughput_rps"], t1["p50_ms"], t1["p99_ms"], statuses(t1)),
        "| R50 backbone (%s) | 0.25 | %.2f | %.0f | %.0f | %s |" % (os.path.basename(args.backbone_model), b25["throughput_rps"], b25["p50_ms"], b25["p99_ms"], statuses(b25)),
        "| R50 backbone | 1 (dense) | %.2f | %.0f | %.0f | %s |" % (b1["throughput_rps"], b1["p50_ms"], b1["p99_ms"], statuses(b1)),
        "",
        "Throughput at 0.25 / throughput at 1: **%.2fx** with the FPN, **%.2fx** for the backbone alone "
        "(target: at least 2.5x). Budgets act on the backbone only: the FPN's dense convs (about 55 of "
        "the R50-FPN's 134 GMACs at this size) cost the same at every budget." % (o["tput_ratio"], o["bb_ratio"]),
        "",
        "## The default model through POST /detect (wrk, %d s each, 16 connections)" % args.tput_seconds,
        "",
        "`%s` (the trained sparse ResNet-18-FPN detector + segmenter), raw JPEG `%s` (%d bytes), "
        "`POST /v1/models/detseg/detect?budget=B`; the reply carries boxes, cost and timing." % (
            os.path.relpath(args.detect_model, os.path.dirname(os.path.dirname(os.path.abspath(args.doc)))),
            os.path.basename(args.detect_image), os.path.getsize(args.detect_image)),
        "",
    ] + budget_table(o["detect"]) + [
        "",
        "Throughput at budget 0.25 / budget 1: **%.2fx**, at 0.5: **%.2fx** (targets: 2.5x, 1.6x). "
        "A budget caps the backbone and the box head's proposals (docs/sparse.md, \"Budget policy\"); "
        "the FPN, the RPN conv and JPEG decoding cost the same at every budget (/detect skips the "
        "semantic head, /segment the RPN)." % (
            o["detect_ratio"], o["detect"]["0.5"]["throughput_rps"] / o["detect"]["1"]["throughput_rps"]),
        "",
        "The same through `POST /v1/models/detseg/segment?budget=B` (the label map's class shares):",
        "",
    ] + budget_table(o["segment"]) + [
        "",
        "Throughput at 0.25 / 1: **%.2fx**, at 0.5: **%.2fx**." % (
            o["segment"]["0.25"]["throughput_rps"] / o["segment"]["1"]["throughput_rps"],
            o["segment"]["0.5"]["throughput_rps"] / o["segment"]["1"]["throughput_rps"]),
        "",
        "## Memory over %d requests (small model, budgets 0.5 / 1)" % rss["samples"][-1][0],
        "",
        "RSS after start-up %.1f MiB; after warm-up %.1f MiB; then:" % (rss["before_kib"] / 1024, rss["after_warmup_kib"] / 1024),
        "",
        "| requests | RSS MiB |",
        "|---|---|",
    ] + ["| %d | %.1f |" % (n, kib / 1024) for n, kib in rss["samples"]] + [
        "",
        "Growth after warm-up: %+.2f%% (target: within 5%%). Exit code after SIGTERM: %s." % (100 * rss["growth"], o["exit_code"]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
