"""Plots the points of bench/run-results.sh and prints their table.

    python3 bench/plot-results.py docs/results.json docs/results.png > table.md

Box AP, mIoU and the backbone's measured time, each against mean backbone
GMACs; one series per kind of point (the budget knob, uniform sampling =
lower input sizes, trained masks, other models). The table (Markdown, on
stdout) adds AP50, density and the measured latency of every point (the
whole run, and the backbone alone).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"budget": ("o-", "budget knob (one model)"),
         "budget_equal": ("o:", "budget knob, equal shares"),
         "uniform": ("s--", "uniform sampling (input size)"),
         "trained": ("*", "trained masks"), "model": ("^", "other models")}


def main(src, png):
    with open(src) as f:
        points = [json.loads(line) for line in f if line.strip()]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for kind, (marker, name) in STYLE.items():
        pts = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["backbone_gmacs"])
        if not pts:
            continue
        x = [p["backbone_gmacs"] for p in pts]
        axes[0].plot(x, [100 * p["ap"] for p in pts], marker, label=name)
        axes[1].plot(x, [100 * p["miou"] for p in pts], marker, label=name)
        axes[2].plot(x, [p["backbone_ms"] for p in pts], marker, label=name)
        if kind == "model":
            for p in pts:
                axes[0].annotate(p["label"], (p["backbone_gmacs"], 100 * p["ap"]), fontsize=7)
    for ax, what in zip(axes, ("box AP", "mIoU", "backbone time, ms (mean)")):
        ax.set_xlabel("backbone GMACs per image (docs/method.md section 6)")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print("| point | backbone GMACs | density | box AP | AP50 | mIoU | backbone ms (mean) "
          "| whole run ms (mean / p50) |")
    print("|---|---|---|---|---|---|---|---|")
    for p in points:
        print("| %s: %s | %.3f | %.3f | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f |" % (
            p["kind"], p["label"], p["backbone_gmacs"], p["density"], 100 * p["ap"],
            100 * p["ap50"], 100 * p["miou"], p["backbone_ms"], p["latency_ms"],
            p["latency_ms_p50"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
