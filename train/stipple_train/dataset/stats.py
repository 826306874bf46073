"""Statistics of a COCO annotation file written by stipple_train.dataset.

    python3 -m stipple_train.dataset.stats DIR [--markdown]

Design: summarize() works on the parsed annotations.json alone (no image
is read), so writer.py can store the same numbers in dataset.json and
docs/dataset.md can quote them. Size classes are COCO's, on the visible
mask area: small < 32*32 <= medium < 96*96 <= large.
"""
import argparse
import json
import os
import sys

SMALL, LARGE = 32 * 32, 96 * 96


def size_class(area):
    return "small" if area < SMALL else ("medium" if area < LARGE else "large")


def summarize(coco):
    cats = {c["id"]: c for c in coco["categories"]}
    per_image = {im["id"]: 0 for im in coco["images"]}
    per_class = {c["name"]: 0 for c in coco["categories"]}
    sizes = {"small": 0, "medium": 0, "large": 0}
    sizes_by_super = {}
    occluded = 0
    for a in coco["annotations"]:
        per_image[a["image_id"]] += 1
        cat = cats[a["category_id"]]
        per_class[cat["name"]] += 1
        s = size_class(a["area"])
        sizes[s] += 1
        sup = sizes_by_super.setdefault(cat["supercategory"], {"small": 0, "medium": 0, "large": 0})
        sup[s] += 1
        if a.get("full_area", a["area"]) > a["area"]:
            occluded += 1
    widths = [im["width"] for im in coco["images"]]
    heights = [im["height"] for im in coco["images"]]
    counts = list(per_image.values())
    histogram = {}
    for n in counts:
        histogram[str(n)] = histogram.get(str(n), 0) + 1
    n_ann = len(coco["annotations"])
    n_img = len(coco["images"])
    return {
        "images": n_img,
        "annotations": n_ann,
        "objects_per_image": {
            "min": min(counts) if counts else 0, "max": max(counts) if counts else 0,
            "mean": round(n_ann / n_img, 3) if n_img else 0,
            "histogram": dict(sorted(histogram.items(), key=lambda kv: int(kv[0]))),
        },
        "objects_per_class": per_class,
        "sizes": sizes,
        "size_fractions": {k: round(v / n_ann, 3) if n_ann else 0 for k, v in sizes.items()},
        "sizes_by_supercategory": sizes_by_super,
        "occluded": occluded,
        "image_width": {"min": min(widths, default=0), "max": max(widths, default=0),
                        "mean": round(sum(widths) / n_img, 1) if n_img else 0},
        "image_height": {"min": min(heights, default=0), "max": max(heights, default=0),
                         "mean": round(sum(heights) / n_img, 1) if n_img else 0},
    }


def markdown(s, title):
    lines = ["#### %s" % title, "",
             "%d images, %d objects (%.2f per image, %d to %d; %d partly occluded)." % (
                 s["images"], s["annotations"], s["objects_per_image"]["mean"],
                 s["objects_per_image"]["min"], s["objects_per_image"]["max"], s["occluded"]),
             "Image width %d to %d (mean %.0f), height %d to %d (mean %.0f)." % (
                 s["image_width"]["min"], s["image_width"]["max"], s["image_width"]["mean"],
                 s["image_height"]["min"], s["image_height"]["max"], s["image_height"]["mean"]),
             "", "| size (visible area) | all | digits | emoji |", "|---|---|---|---|"]
    for k in ("small", "medium", "large"):
        lines.append("| %s | %d (%.1f%%) | %d | %d |" % (
            k, s["sizes"][k], 100 * s["size_fractions"][k],
            s["sizes_by_supercategory"].get("digit", {}).get(k, 0),
            s["sizes_by_supercategory"].get("emoji", {}).get(k, 0)))
    lines += ["", "| objects per image | " + " | ".join(s["objects_per_image"]["histogram"]) + " |",
              "|---" * (1 + len(s["objects_per_image"]["histogram"])) + "|",
              "| images | " + " | ".join(str(v) for v in s["objects_per_image"]["histogram"].values()) + " |",
              "", "| class | objects |", "|---|---|"]
    for name, n in s["objects_per_class"].items():
        lines.append("| %s | %d |" % (name, n))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m stipple_train.dataset.stats",
                                 description="Statistics of a dataset directory.")
    ap.add_argument("dir", help="directory with annotations.json")
    ap.add_argument("--markdown", action="store_true", help="tables for docs/dataset.md")
    args = ap.parse_args(argv)
    with open(os.path.join(args.dir, "annotations.json")) as f:
        s = summarize(json.load(f))
    if args.markdown:
        sys.stdout.write(markdown(s, args.dir))
    else:
        json.dump(s, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
