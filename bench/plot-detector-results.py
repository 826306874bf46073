"""Table and plot of bench/run-detector-results.sh: box AP against the
dense model's own detections (pseudo ground truth) and measured latency,
per configuration of the COCO detector.

    python3 bench/plot-detector-results.py POINTS.jsonl OUT.json OUT.png > table.md

POINTS holds one `stipple eval --json` result per configuration and pass
(kind, label, rep added). Per configuration: AP and AP50 (the same in every
pass: runs are deterministic), mean backbone GMACs and density, and the
median latency of each pass, summarised by its min and median over passes.
OUT.json keeps the summary; the plot shows AP against the median latency,
one series per kind (the budget knob, uniform downscaling).
"""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"budget": ("o-", "budget knob (sparse)"),
         "uniform": ("s--", "uniform downscaling (dense, smaller input)")}


def summarise(points):
    groups = {}
    for p in points:
        groups.setdefault((p["kind"], p["label"]), []).append(p)
    out = []
    for (kind, label), ps in groups.items():
        lat = [p["latency_ms_p50"] for p in ps]
        out.append({"kind": kind, "label": label, "ap": ps[0]["ap"], "ap50": ps[0]["ap50"],
                    "backbone_gmacs": ps[0]["backbone_gmacs"], "density": ps[0]["density"],
                    "images": ps[0]["images"], "passes": len(ps),
                    "latency_ms_min": min(lat), "latency_ms_median": statistics.median(lat)})
    return out


def main(src, dst_json, png):
    with open(src) as f:
        rows = summarise([json.loads(line) for line in f if line.strip()])
    meta = {"cpu_model": os.environ.get("CPU_MODEL", ""), "date": os.environ.get("DATE", ""),
            "threads": int(os.environ.get("THREADS", "2"))}
    with open(dst_json, "w") as f:
        json.dump({"meta": meta, "points": rows}, f, indent=1)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for kind, (marker, name) in STYLE.items():
        pts = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["latency_ms_median"])
        if pts:
            ax.plot([r["latency_ms_median"] for r in pts], [100 * r["ap"] for r in pts], marker,
                    label=name)
    ax.set_xlabel("latency per image, ms (median; %d threads)" % meta["threads"])
    ax.set_ylabel("box AP vs. the dense model's own boxes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print("%s, %s, %d threads; %d images, %d passes per configuration\n"
          % (meta["cpu_model"], meta["date"], meta["threads"], rows[0]["images"],
             rows[0]["passes"]))
    print("| configuration | AP | AP50 | backbone GMACs | density | latency ms, min | median |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["kind"], -r["latency_ms_median"])):
        print("| %s | %.1f | %.1f | %.3f | %.3f | %.1f | %.1f |"
              % (r["label"], 100 * r["ap"], 100 * r["ap50"], r["backbone_gmacs"], r["density"],
                 r["latency_ms_min"], r["latency_ms_median"]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
