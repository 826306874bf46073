#!/usr/bin/env python3
"""stipple_client.py - a small client of stippled, standard library only.

    python3 examples/stipple_client.py examples/street.jpg
    python3 examples/stipple_client.py photo.jpg --budget 0.5 --draw boxes.svg
    python3 examples/stipple_client.py photo.jpg --kserve --model nanodet-g

Posts a JPEG or PNG to POST /detect (or, with --kserve, to the KServe v2 /
Open Inference Protocol endpoint POST /v2/models/NAME/infer, shaped as
tritonclient's HTTP client sends it: the image as one BYTES element
through the binary tensor extension, the outputs asked for as binary
data) and prints one line per detection, then what the request cost.
--draw writes an SVG holding the photo and its boxes with class names and
scores (any browser shows it; the standard library cannot write JPEGs).
--json prints the detections and the cost as one JSON object instead.
Exit status: 0 success, 1 the server refused or could not be reached
(its JSON error is printed), 2 bad arguments.
"""
import argparse
import base64
import html
import json
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request

OUTPUTS = ["boxes", "scores", "labels", "classes"]


class ServerError(Exception):
    pass


def http_post(url, body, headers, timeout):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            text = json.loads(text).get("error", text)
        except ValueError:
            pass
        raise ServerError("%s: HTTP %d: %s" % (url, e.code, text)) from None
    except (urllib.error.URLError, OSError) as e:
        raise ServerError("%s: %s" % (url, getattr(e, "reason", e))) from None


def detect(base, image, model, params, timeout):
    """POST /detect (or /v1/models/MODEL/detect): (detections, cost, timing)."""
    path = "/v1/models/%s/detect" % model if model else "/detect"
    query = urllib.parse.urlencode(params)
    ctype = "image/png" if image[:4] == b"\x89PNG" else "image/jpeg"
    _, body = http_post(base + path + ("?" + query if query else ""), image,
                        {"Content-Type": ctype}, timeout)
    doc = json.loads(body)
    return doc["detections"], doc["cost"], doc["timing_ms"]


def binary_request(image, params):
    """The KServe v2 request tritonclient makes for one BYTES input with
    binary data: a JSON header, then the element behind its 4-byte length."""
    element = struct.pack("<I", len(image)) + image
    header = json.dumps({
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(element)}}],
        "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in OUTPUTS],
        "parameters": params}).encode()
    return header, element


def parse_binary_reply(headers, body):
    """{output name: (datatype, shape, values)} of a reply whose outputs
    come as binary data after its JSON header (or as JSON data)."""
    size = {k.lower(): v for k, v in headers.items()}.get("inference-header-content-length")
    doc = json.loads(body[:int(size)] if size else body)
    outputs, at = {}, int(size) if size else len(body)
    for o in doc["outputs"]:
        n = o.get("parameters", {}).get("binary_data_size")
        if n is None:
            outputs[o["name"]] = (o["datatype"], o["shape"], o["data"])
            continue
        raw = body[at:at + n]
        at += n
        if o["datatype"] == "BYTES":
            values, i = [], 0
            while i < len(raw):
                (length,) = struct.unpack_from("<I", raw, i)
                values.append(raw[i + 4:i + 4 + length].decode())
                i += 4 + length
        else:
            fmt = {"FP32": "f", "INT32": "i", "UINT8": "B"}[o["datatype"]]
            values = list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
        outputs[o["name"]] = (o["datatype"], o["shape"], values)
    return doc, outputs


def kserve_detect(base, image, model, params, timeout):
    """POST /v2/models/MODEL/infer: (detections, cost, timing) as /detect's."""
    kparams = {{"budget": "sparsity_budget"}.get(k, k): v for k, v in params.items()}
    if "sparsity_budget" in kparams and kparams["sparsity_budget"] != "auto":
        kparams["sparsity_budget"] = float(kparams["sparsity_budget"])
    for key in ("score_threshold",):
        if key in kparams:
            kparams[key] = float(kparams[key])
    header, element = binary_request(image, kparams)
    headers, body = http_post("%s/v2/models/%s/infer" % (base, model), header + element,
                              {"Content-Type": "application/octet-stream",
                               "Inference-Header-Content-Length": str(len(header))}, timeout)
    doc, out = parse_binary_reply(headers, body)
    boxes, scores = out["boxes"][2], out["scores"][2]
    labels, classes = out["labels"][2], out["classes"][2]
    dets = [{"box": boxes[4 * i:4 * i + 4], "score": scores[i], "label": labels[i],
             "class": classes[i]} for i in range(len(scores))]
    p = doc.get("parameters", {})
    cost = {k: p[k] for k in ("sparsity_budget", "density", "network_gmacs", "dense_network_gmacs")
            if k in p}
    timing = {k[:-3]: p[k] for k in ("queue_ms", "decode_ms", "infer_ms") if k in p}
    return dets, cost, timing


def image_size(image):
    """(width, height) of a JPEG (from its SOF marker) or PNG (IHDR)."""
    if image[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", image[16:24])
    i = 2
    while i + 9 < len(image):
        if image[i] != 0xFF:
            i += 1
            continue
        marker = image[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", image[i + 5:i + 9])
            return w, h
        i += 2 + struct.unpack(">H", image[i + 2:i + 4])[0]
    raise ValueError("not a JPEG or PNG with a size")


def draw_svg(image, dets, path):
    """The photo (embedded) and its boxes with 'class score' labels. A JPEG
    with an EXIF turn shows as browsers show it; the boxes follow the
    server, which turns it upright too."""
    w, h = image_size(image)
    mime = "image/png" if image[:4] == b"\x89PNG" else "image/jpeg"
    font = max(12, min(w, h) // 40)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d">' % (w, h, w, h),
             '<image href="data:%s;base64,%s" width="%d" height="%d"/>'
             % (mime, base64.b64encode(image).decode(), w, h)]
    for d in dets:
        x1, y1, x2, y2 = d["box"]
        label = html.escape("%s %.2f" % (d["class"], d["score"]))
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" '
                     'stroke="#ff2d55" stroke-width="%d"/>'
                     % (x1, y1, x2 - x1, y2 - y1, max(2, font // 6)))
        parts.append('<text x="%.1f" y="%.1f" font-family="sans-serif" font-size="%d" '
                     'fill="#ffffff" stroke="#000000" stroke-width="0.6">%s</text>'
                     % (x1 + 2, max(font, y1 - 3), font, label))
    parts.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stipple_client.py", description=__doc__.split("\n")[0])
    ap.add_argument("image", help="a JPEG or PNG file")
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="the daemon (%(default)s)")
    ap.add_argument("--model", help="a model name (default: the daemon's detector; "
                    "--kserve needs one, default nanodet-g)")
    ap.add_argument("--budget", help="(0, 1] or auto: the share of the dense cost to spend")
    ap.add_argument("--sampling", choices=["deterministic", "stochastic"])
    ap.add_argument("--seed", type=int)
    ap.add_argument("--score-threshold", type=float)
    ap.add_argument("--kserve", action="store_true", help="use KServe v2 /infer")
    ap.add_argument("--draw", metavar="OUT.svg", help="write the photo with its boxes")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--timeout", type=float, default=120, help="seconds (%(default)s)")
    args = ap.parse_args(argv)
    try:
        with open(args.image, "rb") as f:
            image = f.read()
    except OSError as e:
        print("stipple_client.py: %s" % e, file=sys.stderr)
        return 2
    params = {k: v for k, v in (("budget", args.budget), ("sampling", args.sampling),
                                ("seed", args.seed), ("score_threshold", args.score_threshold))
              if v is not None}
    base = args.url.rstrip("/")
    try:
        if args.kserve:
            dets, cost, timing = kserve_detect(base, image, args.model or "nanodet-g", params,
                                               args.timeout)
        else:
            dets, cost, timing = detect(base, image, args.model, params, args.timeout)
    except ServerError as e:
        print("stipple_client.py: %s" % e, file=sys.stderr)
        return 1
    if args.draw:
        draw_svg(image, dets, args.draw)
    if args.json:
        print(json.dumps({"detections": dets, "cost": cost, "timing_ms": timing}))
        return 0
    for d in dets:
        print("%-14s %.3f  [%7.1f %7.1f %7.1f %7.1f]" % (d["class"], d["score"], *d["box"]))
    print("%d detections; cost %s; ms %s" % (
        len(dets), ", ".join("%s %s" % (k, v if isinstance(v, str) else round(v, 3))
                             for k, v in cost.items() if not isinstance(v, list)),
        ", ".join("%s %.1f" % (k, v) for k, v in timing.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
