"""render-bench.py - turns bench/run-bench.sh's JSON results into docs/benchmarks.md.

    python3 bench/render-bench.py OUT_DIR DOC.md

OUT_DIR holds what run-bench.sh left there:
  meta.json                    machine, date, settings, the command line
  fma-peak-T.json              bench/fma-peak --threads T --json
  RUNTIME-ARCH-HxW-tT.json     one result of `stipple bench --json`,
                               peer-torch.py or peer-ort.js (RUNTIME is
                               stipple, pytorch or onnxruntime); a missing or
                               unreadable file shows as "failed"
  bench-conv-1t.json           optional: bench/bench-conv --json (per layer)
Writes the Markdown report to DOC.md and prints it. Standard library only.
"""
import json
import os
import sys

RUNTIMES = [("stipple", "Stipple"), ("pytorch", "PyTorch"), ("onnxruntime", "ONNX Runtime")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_ms(r):
    if r is None:
        return "failed"
    return "%.1f (%.1f)" % (r["median_ms"], r["min_ms"])


def ratio(a, b):
    if a is None or b is None or not b["median_ms"]:
        return "-"
    return "%.2fx" % (a["median_ms"] / b["median_ms"])


def fma_peaks(out, threads_list):
    """{threads: (best GFLOP/s over ISAs, {isa: GFLOP/s})} from fma-peak-T.json."""
    peaks = {}
    for t in threads_list:
        d = load(os.path.join(out, "fma-peak-%d.json" % t))
        for r in (d or {}).get("results", []):
            best, by_isa = peaks.get(r["threads"], (0.0, {}))
            by_isa[r["isa"]] = r["gflops"]
            peaks[r["threads"]] = (max(best, r["gflops"]), by_isa)
    return peaks


def main():
    out, doc = sys.argv[1], sys.argv[2]
    meta = load(os.path.join(out, "meta.json"))
    threads_list = meta["threads"]
    peaks = fma_peaks(out, threads_list)
    lines = []
    w = lines.append

    w("# Benchmarks: Stipple vs PyTorch vs ONNX Runtime (dense CPU inference)")
    w("")
    w("Written by `make bench` (bench/run-bench.sh); do not edit by hand.")
    w("")
    w("- Machine: %s, %s CPUs (`lscpu`: %s)" % (meta["cpu_model"], meta["cpus"], meta["cpu_topology"]))
    w("- Date: %s; load average before the run: %s (another process on the 2 vCPUs skews "
      "every number)" % (meta["date"], meta.get("loadavg", "not recorded")))
    w("- Versions: %s; PyTorch %s (%s mode, oneDNN); ONNX Runtime %s (node, CPU provider)"
      % (meta["stipple_version"], meta.get("torch_version", "?"), meta["torch_mode"],
         meta.get("ort_version", "?")))
    w("- Same weights everywhere: `stipple_train.export --random-init --seed %s` writes one Stipple "
      "file per network; PyTorch loads it with `stipple_train.export.load_model`; the ONNX file is "
      "exported from that loaded model (`bench/peer-torch.py --export-onnx`, opset 13, fixed size)."
      % meta["seed"])
    w("- Each runtime runs in its own process, one after the other, per configuration: "
      "1 untimed warm-up pass, then %s timed passes at 224x224 and %s at larger sizes. "
      "Batch 1, FP32, one fixed N(0,1) input." % (meta["runs_small"], meta["runs_large"]))
    w("- Times in ms: median (min). Ratios are Stipple's median time over the peer's "
      "(below 1.00x: Stipple is faster).")
    w("")
    w("## Whole network")
    w("")
    w("| network | size | threads | Stipple | PyTorch | ONNX Runtime | Stipple/PyTorch | Stipple/ORT |")
    w("|---|---|---|---|---|---|---|---|")
    configs = []
    for arch in meta["archs"]:
        for size in meta["sizes"]:
            for t in threads_list:
                res = {rt: load(os.path.join(out, "%s-%s-%s-t%d.json" % (rt, arch, size, t)))
                       for rt, _ in RUNTIMES}
                configs.append((arch, size, t, res))
                w("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
                    arch, size, t, fmt_ms(res["stipple"]), fmt_ms(res["pytorch"]),
                    fmt_ms(res["onnxruntime"]), ratio(res["stipple"], res["pytorch"]),
                    ratio(res["stipple"], res["onnxruntime"])))
    w("")
    w("## Achieved GFLOP/s and share of the FMA peak")
    w("")
    w("GFLOP/s = Stipple's count of the network's FLOPs (`stp_model_cost` total_flops: 2 x MACs "
      "of every conv, plus elementwise ops) over each runtime's median time; % of the measured "
      "FP32 FMA peak for that many threads (best ISA, table below).")
    w("")
    w("| network | size | threads | GFLOPs/pass | Stipple | PyTorch | ONNX Runtime | peak GFLOP/s |")
    w("|---|---|---|---|---|---|---|---|")
    for arch, size, t, res in configs:
        st = res["stipple"]
        flops = st["total_gflops"] if st else None
        peak = peaks.get(t, (0.0, {}))[0]
        cells = []
        for rt, _ in RUNTIMES:
            r = res[rt]
            if r is None or flops is None:
                cells.append("-")
                continue
            g = flops / (r["median_ms"] / 1e3)
            cells.append("%.0f (%.0f%%)" % (g, 100 * g / peak) if peak else "%.0f" % g)
        w("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
            arch, size, t, "%.1f" % flops if flops else "-", cells[0], cells[1], cells[2],
            "%.0f" % peak if peak else "-"))
    w("")
    w("## Peak resident memory (MiB, whole process)")
    w("")
    w("getrusage of each runtime's own process: it includes the Python interpreter and torch, "
      "or node and the ONNX Runtime library. Stipple's scratch per session (stp_session_workspace_bytes: every buffer a run uses) is shown apart.")
    w("")
    w("| network | size | threads | Stipple (workspace) | PyTorch | ONNX Runtime |")
    w("|---|---|---|---|---|---|")
    for arch, size, t, res in configs:
        st = res["stipple"]
        cells = ["%.0f (%.0f)" % (st["peak_rss_mb"], st["workspace_mb"]) if st else "failed"]
        for rt in ("pytorch", "onnxruntime"):
            cells.append("%.0f" % res[rt]["peak_rss_mb"] if res[rt] else "failed")
        w("| %s | %s | %d | %s | %s | %s |" % (arch, size, t, *cells))
    w("")
    w("## FP32 FMA peak of this machine (bench/fma-peak.c)")
    w("")
    w("Independent chains of vector FMAs in registers, best of 5 timings; 1 FMA = 2 FLOPs per lane.")
    w("")
    w("| threads | ISA | GFLOP/s |")
    w("|---|---|---|")
    for t in sorted(peaks):
        for isa, g in sorted(peaks[t][1].items()):
            w("| %d | %s | %.1f |" % (t, isa, g))
    w("")
    w("## Single-thread efficiency of ResNet-50's convolutions (bench/bench-conv)")
    w("")
    layers = load(os.path.join(out, "bench-conv-1t.json"))
    if not layers:
        w("Not measured: bench/bench-conv was not built or failed (`make bench` builds it).")
    else:
        w("One dense conv at a time, 1 thread, input %sx%s; %% of the 1-thread FMA peak of the "
          "same ISA." % (layers[0]["size"], layers[0]["size"]))
        w("")
        w("| layer | ISA | min ms | median ms | GFLOP/s (best) | % of peak |")
        w("|---|---|---|---|---|---|")
        for l in layers:
            peak = peaks.get(1, (0.0, {}))[1].get(l["isa"], 0.0)
            w("| %s | %s | %.3f | %.3f | %.1f | %s |" % (
                l["layer"], l["isa"], l["min_ms"], l["median_ms"], l["gflops_per_s_best"],
                "%.0f%%" % (100 * l["gflops_per_s_best"] / peak) if peak else "-"))
    w("")
    w("## Reproduce")
    w("")
    w("```")
    w("./configure && make && make bench")
    w("# or, from a build directory, with settings:")
    w(meta["command"])
    w("```")
    w("")
    w("Settings (environment of bench/run-bench.sh): BENCH_ARCHS, BENCH_SIZES, BENCH_THREADS, "
      "BENCH_RUNS_SMALL, BENCH_RUNS_LARGE, BENCH_SEED, BENCH_TORCH_MODE (frozen|eager), "
      "BENCH_RUNTIMES, BENCH_OUT, BENCH_DOC, BENCH_PEERS. The machine's second vCPU is shared: "
      "compare ratios measured in one run, not numbers across runs.")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
    with open(doc, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
