"""container-roundtrip.py - what a client of the shipped image sees, checked
over HTTP against a running stippled (scripts/container-test.sh runs it
against the container; it runs as well against a local daemon serving
models/):

    /usr/bin/python3 scripts/container-roundtrip.py http://127.0.0.1:8080

Liveness, the model list, the default model's KServe v2 metadata (boxes,
scores, labels, classes), a KServe v2 infer of examples/street.jpg (JSON in
and out, then binary out, then binary in) that must find people in the
photo's pixels, POST /detect, POST /segment (the daemon's default
segmentation model) and /metrics. A sparse default model must also keep
budget 0.5 under half its dense cost. Prints ok:/FAIL: lines; exit 1 on any
failure. Standard library only.
"""
import base64
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

PHOTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "street.jpg")
PHOTO_SIZE = (768, 576)   # examples/street.jpg, width x height
DETECT_OUTPUTS = ["boxes", "scores", "labels", "classes"]

base = sys.argv[1].rstrip("/")
failed = 0


def check(cond, msg):
    global failed
    print(("ok: " if cond else "FAIL: ") + msg, flush=True)
    failed += not cond
    return cond


def req(method, path, body=None, headers=None):
    r = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def binary_outputs(hdr, body):
    """The JSON header and {name: bytes} of a binary-extension reply."""
    hl = int({k.lower(): v for k, v in hdr.items()}["inference-header-content-length"])
    doc = json.loads(body[:hl])
    data, at = {}, hl
    for o in doc["outputs"]:
        n = o["parameters"]["binary_data_size"]
        data[o["name"]] = body[at:at + n]
        at += n
    return doc, data, at == len(body)


def boxes_inside(boxes):
    w, h = PHOTO_SIZE
    return all(0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h for x0, y0, x1, y1 in boxes)


with open(PHOTO, "rb") as f:
    jpeg = f.read()

st, _, body = req("GET", "/v2/health/live")
check(st == 200 and json.loads(body) == {"live": True}, "GET /v2/health/live: %d %s" % (st, body[:80]))
st, _, body = req("GET", "/v1/models")
models = json.loads(body)
model = models["default"]
entry = next((m for m in models["models"] if m["name"] == model), {})
check(st == 200 and entry.get("state") == "READY" and "detect" in entry.get("tasks", []),
      "GET /v1/models: default model '%s' READY, a detector" % model)
sparse = entry.get("sparse", False)
st, _, body = req("GET", "/v2/models/" + model)
meta = json.loads(body) if st == 200 else {}
names = [o["name"] for o in meta.get("outputs", [])]
check(st == 200 and names[:4] == DETECT_OUTPUTS,
      "GET /v2/models/%s: %d, outputs %s" % (model, st, names))

# KServe v2 infer, JSON both ways: the photo as one BYTES element (base64)
budget = 0.5
infer = {"id": "container-test", "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                             "data": [base64.b64encode(jpeg).decode()]}],
         "parameters": {"sparsity_budget": budget},
         "outputs": [{"name": n} for n in DETECT_OUTPUTS]}
t = time.monotonic()
st, _, body = req("POST", "/v2/models/%s/infer" % model, json.dumps(infer).encode(),
                  {"Content-Type": "application/json"})
ms = (time.monotonic() - t) * 1000
if check(st == 200, "POST /v2/models/%s/infer (JSON, budget %g): %d in %.0f ms%s"
         % (model, budget, st, ms, "" if st == 200 else " " + body[:300].decode(errors="replace"))):
    doc = json.loads(body)
    p = doc.get("parameters", {})
    out = {o["name"]: o for o in doc["outputs"]}
    check(doc["model_name"] == model and doc.get("id") == "container-test", "infer echoes model and id")
    n = out["scores"]["shape"][0]
    boxes = [out["boxes"]["data"][4 * i:4 * i + 4] for i in range(n)]
    check(list(out) == DETECT_OUTPUTS and out["boxes"]["shape"] == [n, 4] and
          out["labels"]["datatype"] == "INT32" and out["classes"]["datatype"] == "BYTES" and
          len(out["classes"]["data"]) == n,
          "outputs boxes [%d, 4], scores, labels, classes" % n)
    people = out["classes"]["data"].count("person")
    check(people >= 3 and boxes_inside(boxes),
          "examples/street.jpg: %d people among %d boxes, all inside the %dx%d photo"
          % (people, n, *PHOTO_SIZE))
    check(0 < p.get("network_gmacs", 0) <= p.get("dense_network_gmacs", 0),
          "cost %.2f of %.2f dense GMACs" % (p.get("network_gmacs", -1), p.get("dense_network_gmacs", -1)))
    if sparse:
        check(p["network_gmacs"] <= budget * 1.02 * p["dense_network_gmacs"],
              "a sparse model keeps budget %g" % budget)

# binary outputs, then the binary tensor extension on the way in
infer["parameters"]["binary_data_output"] = True
st, hdr, body = req("POST", "/v2/models/%s/infer" % model, json.dumps(infer).encode(),
                    {"Content-Type": "application/json"})
if check(st == 200, "POST infer (JSON in, binary out): %d" % st):
    doc, data, whole = binary_outputs(hdr, body)
    n = len(data["scores"]) // 4
    check(whole and len(data["boxes"]) == 16 * n and n > 0 and
          boxes_inside([struct.unpack_from("<4f", data["boxes"], 16 * i) for i in range(n)]),
          "binary outputs: %d boxes as FP32" % n)
header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": len(jpeg) + 4}}],
                     "outputs": [{"name": "classes"}]}).encode()
st, _, body = req("POST", "/v2/models/%s/infer" % model, header + struct.pack("<I", len(jpeg)) + jpeg,
                  {"Content-Type": "application/octet-stream",
                   "Inference-Header-Content-Length": str(len(header))})
outs = json.loads(body).get("outputs", []) if st == 200 else []
check(st == 200 and [o["name"] for o in outs] == ["classes"] and "person" in outs[0]["data"],
      "POST infer (binary in, JSON out of classes): %d" % st)

# /detect on the default model, /segment on the default segmentation model
st, _, body = req("POST", "/detect?budget=%g" % budget, jpeg, {"Content-Type": "image/jpeg"})
doc = json.loads(body)
dets = doc.get("detections", [])
check(st == 200 and any(d.get("class") == "person" for d in dets) and "cost" in doc and "timing_ms" in doc,
      "POST /detect: %d, %d detections (%s)" % (st, len(dets), ", ".join(sorted({d.get("class", "?") for d in dets}))))
st, _, body = req("POST", "/segment", jpeg, {"Content-Type": "image/jpeg"})
doc = json.loads(body)
check(st == 200 and doc.get("segmentation", {}).get("width") == PHOTO_SIZE[0],
      "POST /segment (model %s): %d" % (doc.get("model", {}).get("name"), st))

st, _, body = req("GET", "/metrics")
text = body.decode()
check(st == 200 and "stipple_queue_depth " in text and
      ('stipple_requests_total{model="%s",endpoint="infer",status="200"}' % model) in text,
      "GET /metrics has stipple_queue_depth and the infer count")
sys.exit(1 if failed else 0)
