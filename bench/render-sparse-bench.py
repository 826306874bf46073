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


def rounds(out):
    """{(round, threads, budget or "densemodel"): stipple bench JSON}."""
    found = {}
    for f in glob.glob(os.path.join(out, "round*-*-*.json")):
        rnd, t, b = os.path.basename(f)[len("round"):-5].split("-", 2)
        found[(int(rnd), t, b)] = load(f)
    return found


# The 2-thread backbone targets of the sparse-execution issue: time over
# Stipple's dense time, and over the faster dense peer.
TARGET_X_DENSE = {"0.5": 0.65, "0.25": 0.40}
TARGET_X_PEER = {"0.25": 0.40}


def backbone(out, size):
    """The backbone table: per threads and budget, the rounds' median (min)
    time and the per-round ratio to the dense model timed in that round."""
    found = rounds(out)
    nrounds = max((k[0] for k in found), default=0)
    print("| threads | budget | density | backbone GMACs | cost / dense | ms | "
          "x Stipple dense: median (min-max) | target | x PyTorch | x ORT |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in sorted({k[1] for k in found}):
        def peer(name):
            f = os.path.join(out, "dense", "%s-resnet50-%s-t%s.json" % (name, size, t))
            return load(f)["median_ms"] if os.path.exists(f) else None
        torch_ms, ort_ms = peer("pytorch"), peer("onnxruntime")
        fastest_peer = min(x for x in (torch_ms, ort_ms, float("inf")) if x)
        dense = {k[0]: v for k, v in found.items() if k[1] == t and k[2] == "densemodel"}
        budgets = {k[2] for k in found if k[1] == t and k[2] != "densemodel"}
        for b in sorted(budgets, key=lambda b: (-found[(1, t, b)]["backbone_gmacs"], b)):
            rs = {k[0]: v for k, v in found.items() if k[1] == t and k[2] == b}
            r = rs[min(rs)]
            ms = statistics.median(x["median_ms"] for x in rs.values())
            ratios = sorted(rs[i]["median_ms"] / dense[i]["median_ms"] for i in rs if i in dense)
            checks = []
            if t == "2" and b in TARGET_X_DENSE and ratios:
                checks.append("<= %.2fx dense: %s" % (TARGET_X_DENSE[b], "met" if
                              statistics.median(ratios) <= TARGET_X_DENSE[b] else "MISSED"))
            if t == "2" and b in TARGET_X_PEER and fastest_peer < float("inf"):
                checks.append("<= %.2fx peer: %s" % (TARGET_X_PEER[b], "met" if
                              ms / fastest_peer <= TARGET_X_PEER[b] else "MISSED"))
            fmt = lambda ref: "%.2fx" % (ms / ref) if ref else "-"
            print("| %s | %s | %.3f | %.2f | %.2f | %.1f (%.1f) | %s | %s | %s | %s |"
                  % (t, b.replace("-photo", ", photo"), r["density"], r["backbone_gmacs"],
                     r["backbone_gmacs"] / r["dense_backbone_gmacs"], ms,
                     min(x["min_ms"] for x in rs.values()),
                     "%.2fx (%.2f-%.2f)" % (statistics.median(ratios), ratios[0], ratios[-1])
                     if ratios else "-", "; ".join(checks), fmt(torch_ms), fmt(ort_ms)))
        if dense:
            dense_ms = statistics.median(x["median_ms"] for x in dense.values())
            print("| %s | dense model | 1 | - | 1.00 | %.1f (%.1f) | 1.00x | | %s | %s |"
                  % (t, dense_ms, min(x["min_ms"] for x in dense.values()),
                     "%.2fx" % (dense_ms / torch_ms) if torch_ms else "-",
                     "%.2fx" % (dense_ms / ort_ms) if ort_ms else "-"))
        print("| %s | PyTorch / ORT dense | - | - | - | %s / %s | | | | |"
              % (t, "%.1f" % torch_ms if torch_ms else "-", "%.1f" % ort_ms if ort_ms else "-"))
    print("\n%d rounds; in each, the dense model and then every budget, %s thread(s) in turn. "
          "`ms` is the median of the rounds' medians (min of all runs); `x Stipple dense` "
          "takes each round's budget time over the dense model's time in the same round and "
          "gives the median and range of those ratios. The targets are checked on medians."
          % (nrounds, " then ".join(sorted({k[1] for k in found}))))


def blocks(out):
    """Per-block time (stipple bench --profile: min over runs) at each budget."""
    runs = {}
    for (rnd, t, b), r in rounds(out).items():
        if rnd == 1 and "profile" in r:
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

    p("\n## Whole blocks at a density (bench/bench-block)\n")
    p("ResNet-50 bottlenecks at 800x1216 (variant b, RBF 7x7, grid 11) whose masks are a "
      "pattern of random cells or whole squares (32x32 image pixels at strides 4 and 8, 2x2 "
      "cells at 16 and 32) at the density, plus the grid prior. "
      "`x dense` is the block's time over its dense run (every cell, no masks) in the same "
      "process; the ideal is the masks' mean density. A block also pays for its mask convs "
      "(read from memory here, as in a network's first sparse block), interpolation, the "
      "dense downsample and a last pass over every cell, so no block reaches the ideal. "
      "The phases are mean ms per run: mask logits and sampling, convs, interpolation between "
      "convs, downsample shortcut, last pass.\n")
    p("| threads | pattern | block | density | ms | dense ms | x dense | ideal "
      "| mask / conv / interp / shortcut / final |")
    p("|---|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(out, "block-*.json"))):
        for r in load(path):
            ph = r["phase_ms"]
            p("| %d | %s | %s | %.3f | %.2f (%.2f) | %.2f | %.2fx | %.2fx | %s |"
              % (r["threads"], r["pattern"], r["block"], r["density"], r["median_ms"],
                 r["min_ms"], r["dense_median_ms"], r["median_ms"] / r["dense_median_ms"],
                 r["density"], " / ".join("%.1f" % ph[k] for k in
                                          ("mask", "conv", "interp", "shortcut", "final"))))

    p("\n## Interpolation: gather against separable passes (bench/bench-interp)\n")
    p("A ResNet-50 layer2 map at 800x1216 (100x152); random cells at the density plus the "
      "grid prior (stride 11). *Between convs*: 128 channels, the unsampled cells, in place; "
      "*last pass*: 512 channels, every cell, with bias, shortcut and ReLU. Best of the runs; "
      "`auto` is the form the engine picks.\n")
    p("| threads | kernel | use | density | gather ms | separable ms | separable / gather | auto |")
    p("|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(out, "interp-*.json"))):
        for r in load(path):
            p("| %d | %s | %s | %.1f | %.3f | %.3f | %.2fx | %s |"
              % (r["threads"], r["kernel"], r["use"], r["density"], r["gather_ms"],
                 r["separable_ms"], r["separable_ms"] / r["gather_ms"], r["auto"]))

    p("\n## Whole sparse ResNet-50 backbone, %s\n" % size)
    p("`stipple_train.export --arch sparse-resnet50 --random-init --seed 1`: every block sparse, "
      "RBF 7x7, grid 11, variant b, random mask weights (logits around 0), on a random input "
      "(scattered masks) and, at the budgets marked *photo*, on examples/scene.jpg resized to "
      "the size (`stipple bench --image`: masks that follow the image, spatially coherent). "
      "Budget `auto` uses "
      "the masks' own threshold (deterministic). Cost is the official backbone cost "
      "(docs/method.md section 6) of that run. The dense peers run the dense ResNet-50 "
      "(bench/run-bench.sh) in the same run.\n")
    backbone(out, size)
    blocks(out)
    p("\n## Reproduce\n")
    p("```\n./configure && make && make bench-sparse\n```")


if __name__ == "__main__":
    main()
