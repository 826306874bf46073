"""Renders bench/run-sparse-bench.sh's JSON as docs/benchmarks-sparse.md.

usage: render-sparse-bench.py OUT_DIR SIZE
"""
import datetime
import glob
import json
import os
import statistics
import subprocess
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


PHASES = ("mask", "conv", "interp", "shortcut", "final")


def blocks(out):
    """Per-block time (stipple bench --profile: min over runs) at each budget."""
    runs = {}
    for f in glob.glob(os.path.join(out, "sparse-*.json")):
        t, b = os.path.basename(f)[len("sparse-"):-5].split("-", 1)
        r = load(f)
        if "profile" in r:
            runs.setdefault(t, {})[b] = r
    for t in sorted(runs):
        order = sorted(runs[t], key=lambda b: -runs[t][b]["backbone_gmacs"])
        print("\n## Where the time goes, %s thread(s): every op, ms (min over runs)\n" % t)
        print("Sparse blocks are named by stage and index; each cell is the op's time at "
              "that budget. Below, the blocks' time split by phase: mask logits and "
              "sampling, the convs at their cells, interpolation between convs, the "
              "downsample shortcut, and the final interpolate + shift + shortcut + ReLU.\n")
        print("| op | output | " + " | ".join(order) + " |")
        print("|---|---|" + "---|" * len(order))
        ops = runs[t][order[0]]["profile"]
        stage, index, last_c = 0, -1, None
        for i, op in enumerate(ops):
            name = op["kind"]
            if op["kind"] == "sparse_block":
                if op["output"][2] != last_c:
                    stage, index, last_c = stage + 1, 0, op["output"][2]
                else:
                    index += 1
                name = "layer%d.%d" % (stage, index)
            print("| %s | %s | %s |" % (name, "x".join(str(v) for v in op["output"]),
                                        " | ".join("%.1f" % runs[t][b]["profile"][i]["ms"]
                                                   for b in order)))
        print("| **total** | | %s |" % " | ".join(
            "%.1f" % sum(o["ms"] for o in runs[t][b]["profile"]) for b in order))
        print("\n| phase (all sparse blocks) | " + " | ".join(order) + " |")
        print("|---|" + "---|" * len(order))
        for ph in PHASES:
            print("| %s | %s |" % (ph, " | ".join(
                "%.1f" % sum(o.get("phases_ms", {}).get(ph, 0) for o in runs[t][b]["profile"])
                for b in order)))


def main():
    out, size = sys.argv[1], sys.argv[2]
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines()
                  if l.startswith("Model name")), "unknown")
    load_avg = open("/proc/loadavg").read().split()[:3]
    p = print
    p("# Sparse execution benchmarks\n")
    p("Written by `make bench-sparse` (bench/run-sparse-bench.sh); do not edit by hand.\n")
    p("- Machine: %s, %d CPUs; date %s UTC; load average before the report: %s"
      % (model, os.cpu_count(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
         " ".join(load_avg)))
    p("- Times in ms, median (min) of the timed runs after one warm-up; batch 1, FP32.")
    p("- The second vCPU is shared: compare ratios within one run.\n")

    p("## Single convolutions at a density (bench/bench-conv)\n")
    p("Each conv runs on a list of output pixels: random cells or whole 8x8 blocks. "
      "`x dense` is the sparse time over the dense time of the same conv in the same run; "
      "the target is at most 1.15 x d + 0.05.\n")
    p("| threads | pattern | layer | density | ms | x dense | ideal | target |")
    p("|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(out, "conv-*.json"))):
        t, pattern = os.path.basename(path).split("-")[1:3]
        for r in load(path):
            d = r["density"]
            if d >= 1:
                continue
            ratio = r["median_ms"] / r["dense_median_ms"]
            p("| %s | %s | %s | %.3f | %.2f (%.2f) | %.2fx | %.2fx | %s |"
              % (t, pattern, r["layer"], d, r["median_ms"], r["min_ms"], ratio, d,
                 "ok" if ratio <= 1.15 * d + 0.05 else "MISSED"))

    p("\n## Whole sparse ResNet-50 backbone, %s\n" % size)
    p("`stipple_train.export --arch sparse-resnet50 --random-init --seed 1`: every block sparse, "
      "RBF 7x7, grid 11, variant b, random mask weights (logits around 0). Budget `auto` uses "
      "the masks' own threshold (deterministic). Cost is the official backbone cost "
      "(METHOD.md section 6) of that run. The dense peers run the dense ResNet-50 "
      "(bench/run-bench.sh) in the same run.\n")
    p("| threads | budget | density | backbone GMACs | cost / dense | ms | x Stipple dense | "
      "x PyTorch | x ORT |")
    p("|---|---|---|---|---|---|---|---|---|")
    for t in sorted({os.path.basename(f).split("-")[1] for f in glob.glob(os.path.join(out, "sparse-*.json"))}):
        def peer(name):
            f = os.path.join(out, "dense", "%s-resnet50-%s-t%s.json" % (name, size, t))
            return load(f)["median_ms"] if os.path.exists(f) else None
        dense_ms = peer("stipple")
        torch_ms, ort_ms = peer("pytorch"), peer("onnxruntime")
        for f in sorted(glob.glob(os.path.join(out, "sparse-%s-*.json" % t)),
                        key=lambda f: -load(f)["backbone_gmacs"]):
            r = load(f)
            b = os.path.basename(f)[len("sparse-%s-" % t):-5]
            ms = r["median_ms"]
            fmt = lambda ref: "%.2fx" % (ms / ref) if ref else "-"
            p("| %s | %s | %.3f | %.2f | %.2f | %.1f (%.1f) | %s | %s | %s |"
              % (t, b, r["density"], r["backbone_gmacs"],
                 r["backbone_gmacs"] / r["dense_backbone_gmacs"], ms, r["min_ms"],
                 fmt(dense_ms), fmt(torch_ms), fmt(ort_ms)))
        p("| %s | dense model | 1 | - | 1.00 | %s | 1.00x | %s | %s |"
          % (t, "%.1f" % dense_ms if dense_ms else "-",
             "%.2fx" % (dense_ms / torch_ms) if dense_ms and torch_ms else "-",
             "%.2fx" % (dense_ms / ort_ms) if dense_ms and ort_ms else "-"))
        p("| %s | PyTorch / ORT dense | - | - | - | %s / %s | | | |"
          % (t, "%.1f" % torch_ms if torch_ms else "-", "%.1f" % ort_ms if ort_ms else "-"))
    blocks(out)
    p("\n## Reproduce\n")
    p("```\n./configure && make && make bench-sparse\n```")


if __name__ == "__main__":
    main()
