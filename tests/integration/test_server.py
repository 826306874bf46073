"""test_server.py - integration tests of stippled: the real daemon on
127.0.0.1 at an ephemeral port, spoken to over HTTP, every reply validated
against proto/openapi.yaml.

Usage: test_server.py STIPPLED TOP_SRCDIR WORKDIR
Exit 0 pass, 1 fail, 77 skip (no torch to export a model), 99 harness error.
"""
import base64
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from openapi_check import OpenAPI

STIPPLED, TOP_SRCDIR, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(TOP_SRCDIR, "train"))
try:
    import numpy as np
    from PIL import Image
    import torch
    from stipple_train.set_input import set_classes, set_resize
except ImportError as e:
    print("SKIP: %s" % e)
    sys.exit(77)

API = OpenAPI(os.path.join(TOP_SRCDIR, "proto", "openapi.yaml"))
TOKEN = "s3cret-token"
passed = failed = 0


def check(cond, msg):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + (msg if len(msg) < 400 else msg[:400] + "..."), flush=True)
    return cond


# ---- fixtures ---------------------------------------------------------------

def export_model(path, arch, seed, *extra):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([sys.executable, "-m", "stipple_train.export", "--arch", arch, "--random-init",
                    "--seed", str(seed), "-o", path] + list(extra), check=True,
                   env=dict(os.environ, PYTHONPATH=os.path.join(TOP_SRCDIR, "train")))
    # Small inputs keep most tests quick: resize the short side to 160.
    set_resize(path, 160)


def image_bytes(fmt, w=320, h=240, seed=0, flat=False):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                    rng.integers(0, 256, (h, w))], axis=-1).astype(np.uint8)
    if flat:
        rgb[:] = 128
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


class Daemon:
    def __init__(self, repo, *args):
        """repo None: no --models (the daemon's own default repository)."""
        self.log = open(os.path.join(WORK, "stippled-%d.log" % time.monotonic_ns()), "w+")
        models = ["--models", repo] if repo else []
        self.proc = subprocess.Popen([STIPPLED, "--listen", "127.0.0.1:0"] + models +
                                     ["--admin_token", TOKEN, "--log_level", "debug"] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.access = []
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline and self.port is None:
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(r"listening on port (\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.log.seek(0)
            print(self.log.read())
            raise RuntimeError("stippled did not start")
        threading.Thread(target=self._read_access, daemon=True).start()

    def _read_access(self):
        for line in self.proc.stdout:
            self.access.append(line)

    def request(self, method, path, body=None, headers=None, validate=True, timeout=120):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        doc = None
        if ctype.startswith("application/json"):
            hl = resp.getheader("Inference-Header-Content-Length")
            doc = json.loads(data[:int(hl)] if hl else data)
        if validate:
            try:
                API.check(method, path, resp.status, ctype, doc)
            except AssertionError as e:
                check(False, str(e))
        return resp.status, resp, data, doc

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def v2_body(img, outputs=None, **params):
    doc = {"id": "abc", "parameters": params, "inputs": [
        {"name": "image", "shape": [1], "datatype": "BYTES",
         "data": [base64.b64encode(img).decode()]}]}
    if outputs:
        doc["outputs"] = [{"name": o} for o in outputs]
    return json.dumps(doc)


JSON = {"Content-Type": "application/json"}


# ---- the checks ---------------------------------------------------------------

def test_health_and_metadata(d):
    st, resp, body, _ = d.request("GET", "/", validate=False)
    check(st == 200 and resp.getheader("Content-Type").startswith("text/html") and
          b"<title>Stipple</title>" in body and b"http" not in body.replace(b"http://www.w3.org", b""),
          "GET / serves the page, which loads nothing from elsewhere: %d" % st)
    st, _, _, doc = d.request("GET", "/v2/health/live")
    check(st == 200 and doc == {"live": True}, "live")
    st, _, _, doc = d.request("GET", "/v2/health/ready")
    check(st == 200 and doc["ready"] is True, "ready")
    st, _, _, doc = d.request("GET", "/v2")
    check(st == 200 and doc["name"] == "stippled", "v2 metadata")
    st, _, _, doc = d.request("GET", "/v2/models/r18")
    check(st == 200 and doc["versions"] == ["1"] and doc["inputs"][0]["datatype"] == "BYTES"
          and [o["name"] for o in doc["outputs"]] == ["c2", "c3", "c4", "c5"], "model metadata %r" % doc)
    st, _, _, doc = d.request("GET", "/v2/models/r18/versions/1/ready")
    check(st == 200 and doc["ready"], "version ready")
    st, _, _, _ = d.request("GET", "/v2/models/r18/versions/7")
    check(st == 404, "unknown version is 404")
    st, _, _, doc = d.request("GET", "/v1/models")
    models = {m["name"]: m for m in doc["models"]}
    check(st == 200 and doc["default"] == "r18" and models["r18"]["sparse"] is True and
          models["r18"]["tasks"] == ["features"] and models["empty"]["state"] == "FAILED" and
          models["ds"]["tasks"] == ["detect", "segment", "features"] and
          models["ds"]["classes"] == ["c1", "c2", "c3", "c4", "c5"], "v1 models: %r" % doc)
    st, _, _, doc = d.request("POST", "/v2/repository/index", body=b'{"ready": true}', headers=JSON)
    check(st == 200 and [e["name"] for e in doc] == ["big", "ds", "r18"], "repository index ready filter: %r" % doc)
    st, _, _, doc = d.request("POST", "/v2/repository/index")
    check(st == 200 and [e["name"] for e in doc] == ["big", "ds", "empty", "r18"], "repository index lists every folder")


def test_infer(d):
    img = image_bytes("JPEG")
    st, resp, _, doc = d.request("POST", "/v2/models/r18/infer", v2_body(img, sparsity_budget=0.5),
                                 JSON)
    if not check(st == 200, "v2 infer JSON: %d %r" % (st, doc)):
        return
    p = doc["parameters"]
    check(doc["id"] == "abc" and doc["model_version"] == "1", "v2 echoes id and version")
    check(p["sparsity_budget"] == 0.5 and 0 < p["backbone_gmacs"] <= 0.5 * 1.02 * p["dense_backbone_gmacs"],
          "budget 0.5 spends at most half: %r" % p)
    st_dense, _, _, dense = d.request("POST", "/v2/models/r18/infer",
                                      v2_body(img, sparsity_budget="dense"), JSON)
    dp = dense.get("parameters", {}) if st_dense == 200 else dense
    check(st_dense == 200 and dp["sparsity_budget"] == "dense" and
          dp["backbone_gmacs"] == dp["dense_backbone_gmacs"], "budget dense runs dense: %r" % dp)
    c2 = doc["outputs"][0]
    check(c2["name"] == "c2" and c2["shape"] == [1, 40, 56, 64] and len(c2["data"]) == 40 * 56 * 64,
          "c2 shape for 240x320 -> 160x213 padded to 160x224: %r" % c2["shape"])
    check(resp.getheader("X-Request-Id") == p["request_id"], "request id header")

    # the same through the binary extension, both ways
    header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(img) + 4}}],
                         "parameters": {"sparsity_budget": 0.5, "binary_data_output": True},
                         "outputs": [{"name": "c5"}]}).encode()
    st, resp, data, doc2 = d.request("POST", "/v2/models/r18/infer",
                                     header + struct.pack("<I", len(img)) + img,
                                     {"Inference-Header-Content-Length": str(len(header)),
                                      "Content-Type": "application/octet-stream"})
    if check(st == 200, "v2 binary infer: %d %r" % (st, doc2)):
        hl = int(resp.getheader("Inference-Header-Content-Length"))
        out = doc2["outputs"]
        check(len(out) == 1 and out[0]["name"] == "c5", "outputs filter")
        c5 = np.frombuffer(data[hl:], dtype="<f4")
        ref = np.array(doc["outputs"][3]["data"], dtype=np.float32)
        check(c5.size == out[0]["parameters"]["binary_data_size"] // 4 and np.allclose(c5, ref, rtol=1e-5, atol=1e-5),
              "binary c5 equals JSON c5")

    # budget 1 is the dense network; auto uses the trained masks
    st, _, _, doc = d.request("POST", "/v2/models/r18/versions/1/infer", v2_body(img, ["c5"], sparsity_budget=1.0, binary_data_output=True), JSON)
    check(st == 200 and doc["parameters"]["density"] == 1 and
          abs(doc["parameters"]["backbone_gmacs"] - doc["parameters"]["dense_backbone_gmacs"]) < 1e-9,
          "budget 1 is dense")
    st, _, _, doc = d.request("POST", "/v2/models/r18/infer",
                              v2_body(image_bytes("PNG"), sampling="stochastic", seed=3), JSON)
    check(st == 200 and doc["parameters"]["seed"] == 3, "PNG, stochastic with a seed")
    check(all(doc["parameters"][k] >= 0 for k in ("queue_ms", "decode_ms", "infer_ms")),
          "timing in the reply's parameters")

    # return_masks: one PNG per mask, its 255s are the sampled cells
    st, _, _, doc = d.request("POST", "/v2/models/r18/infer",
                              v2_body(img, ["c5"], sparsity_budget=0.5, return_masks=True), JSON)
    if check(st == 200, "return_masks: %d" % st):
        masks = [o for o in doc["outputs"] if o["name"].startswith("mask")]
        check(len(masks) == 16 and [o["name"] for o in masks] == ["mask%d" % i for i in range(16)],
              "one mask output per sampling module: %r" % [o["name"] for o in masks])
        m0 = np.array(Image.open(io.BytesIO(base64.b64decode(masks[0]["data"][0]))))
        check(m0.shape == (40, 56) and set(np.unique(m0)) <= {0, 255} and
              abs((m0 == 255).mean() - masks[0]["parameters"]["density"]) < 1e-6,
              "mask0 PNG matches its density: %r" % (m0.shape,))


def test_v2_tasks(d):
    """KServe v2 on "ds" (detector + segmenter): the task outputs by default,
    the same boxes as /detect, binary data, feature maps by name, metadata."""
    img = image_bytes("JPEG")
    st, _, _, doc = d.request("POST", "/v2/models/ds/infer",
                              v2_body(img, sparsity_budget=0.5, score_threshold=0), JSON)
    if not check(st == 200, "v2 infer on a task model: %d %r" % (st, doc)):
        return
    out = {o["name"]: o for o in doc["outputs"]}
    check(sorted(out) == ["boxes", "class_fractions", "classes", "label_map", "labels", "scores"],
          "task outputs, no feature maps, by default: %r" % sorted(out))
    n = out["scores"]["shape"][0]
    check(out["boxes"]["shape"] == [n, 4] and out["labels"]["shape"] == [n] and
          out["classes"]["shape"] == [n] and out["boxes"]["datatype"] == "FP32" and
          out["labels"]["datatype"] == "INT32" and out["classes"]["datatype"] == "BYTES" and
          out["label_map"]["shape"] == [240, 320] and out["label_map"]["datatype"] == "UINT8" and
          out["class_fractions"]["shape"] == [6] and
          abs(sum(out["class_fractions"]["data"]) - 1) < 1e-4, "shapes and types")
    st, _, _, det = d.request("POST", "/v1/models/ds/detect?budget=0.5&score_threshold=0", img,
                              {"Content-Type": "image/jpeg"})
    boxes = np.array(out["boxes"]["data"], dtype=np.float32).reshape(-1, 4)
    check(st == 200 and len(det["detections"]) == n and n > 0 and
          np.allclose(boxes, [b["box"] for b in det["detections"]], atol=1e-3) and
          out["classes"]["data"] == [b["class"] for b in det["detections"]],
          "v2 boxes are /detect's: %d and %d" % (n, len(det.get("detections", []))))
    header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(img) + 4}}],
                         "parameters": {"sparsity_budget": 0.5, "score_threshold": 0,
                                        "binary_data_output": True},
                         "outputs": [{"name": "boxes"}, {"name": "classes"}]}).encode()
    st, resp, data, doc2 = d.request("POST", "/v2/models/ds/infer",
                                     header + struct.pack("<I", len(img)) + img,
                                     {"Inference-Header-Content-Length": str(len(header)),
                                      "Content-Type": "application/octet-stream"})
    if check(st == 200 and [o["name"] for o in doc2["outputs"]] == ["boxes", "classes"],
             "binary task outputs: %d" % st):
        tail = data[int(resp.getheader("Inference-Header-Content-Length")):]
        nb = doc2["outputs"][0]["parameters"]["binary_data_size"]
        got = np.frombuffer(tail[:nb], dtype="<f4").reshape(-1, 4)
        names, pos = [], nb
        while pos < len(tail):
            k = struct.unpack("<I", tail[pos:pos + 4])[0]
            names.append(tail[pos + 4:pos + 4 + k].decode())
            pos += 4 + k
        check(np.array_equal(got, boxes) and names == out["classes"]["data"],
              "binary boxes and length-prefixed classes equal the JSON ones")
    st, _, _, doc = d.request("POST", "/v2/models/ds/infer",
                              v2_body(img, ["p6", "scores"], sparsity_budget=0.5), JSON)
    check(st == 200 and [o["name"] for o in doc["outputs"]] == ["p6", "scores"],
          "a feature map by name beside a task output: %r" % [o["name"] for o in doc.get("outputs", [])])
    st, _, _, meta = d.request("GET", "/v2/models/ds")
    check(st == 200 and [o["name"] for o in meta["outputs"]][:6] ==
          ["boxes", "scores", "labels", "classes", "label_map", "class_fractions"],
          "metadata lists the task outputs first: %r" % [o["name"] for o in meta["outputs"]])


def test_tasks(d):
    """/detect and /segment on "ds", a sparse detector + segmenter (random
    weights, 5 classes): TaskResponse replies, the request's limits applied."""
    img = image_bytes("JPEG")
    st, _, _, doc = d.request("POST", "/v1/models/ds/segment?budget=0.5", img,
                              {"Content-Type": "image/jpeg"})
    if check(st == 200, "segment: %d %r" % (st, doc)):
        seg, cost = doc["segmentation"], doc["cost"]
        labels = np.array(Image.open(io.BytesIO(base64.b64decode(seg["png"]))))
        check(labels.shape == (240, 320) and seg["width"] == 320 and seg["height"] == 240,
              "the label map has the image's size: %r" % (labels.shape,))
        check(abs(sum(seg["class_fractions"].values()) - 1) < 1e-9 and
              set(seg["class_fractions"]) == {"background" if v == 0 else "c%d" % v
                                              for v in np.unique(labels)},
              "class fractions by name: %r" % seg["class_fractions"])
        check(len(cost["mask_densities"]) == 16 and cost["budget"] == 0.5 and
              cost["backbone_gmacs"] <= 0.5 * 1.02 * cost["dense_backbone_gmacs"] and
              abs(cost["cost_ratio"] - cost["backbone_gmacs"] / cost["dense_backbone_gmacs"]) < 1e-6,
              "segment cost: %r" % cost)
        check(doc["model"] == {"name": "ds", "version": 1} and doc["timing_ms"]["total"] >=
              doc["timing_ms"]["infer"] > doc["timing_ms"]["backbone"] > 0, "model and timing: %r" % doc["timing_ms"])
    body = json.dumps({"image": base64.b64encode(image_bytes("PNG")).decode(),
                       "parameters": {"sampling": "stochastic", "seed": 9, "return_masks": True}})
    st, _, _, doc = d.request("POST", "/v1/models/ds/segment", body, JSON)
    if check(st == 200, "segment, JSON body: %d %r" % (st, doc)):
        check(len(doc["masks"]) == 16 and doc["parameters"]["seed"] == 9 and
              doc["masks"][0]["density"] == doc["cost"]["mask_densities"][0],
              "masks returned with the stochastic run")
    # the image field as browsers send it: a data: URI, URL-safe base64 without padding
    png = image_bytes("PNG")
    for field, what in (("data:image/png;base64," + base64.b64encode(png).decode(), "data: URI"),
                        (base64.urlsafe_b64encode(png).decode().rstrip("="), "URL-safe base64")):
        st, _, _, doc = d.request("POST", "/v1/models/ds/segment?budget=0.5",
                                  json.dumps({"image": field}), JSON)
        check(st == 200 and doc["segmentation"]["width"] > 0, "image field as %s: %d" % (what, st))
    # a phone photo: stored 320 x 240 with EXIF orientation 6 (turn 90 degrees
    # clockwise to display): everything in the upright 240 x 320 image
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(io.BytesIO(image_bytes("JPEG"))).save(buf, format="JPEG", exif=exif.tobytes())
    st, _, _, doc = d.request("POST", "/v1/models/ds/segment?budget=0.5", buf.getvalue(),
                              {"Content-Type": "image/jpeg"})
    check(st == 200 and (doc["segmentation"]["width"], doc["segmentation"]["height"]) == (240, 320),
          "EXIF orientation 6: the upright size: %d %r" % (st, doc.get("segmentation", {}).get("width")))
    st, _, _, doc = d.request("POST", "/v1/models/ds/segment",
                              json.dumps({"image": "data:image/png," + "x" * 8}), JSON)
    check(st == 400 and "not valid base64" in doc["error"], "a data: URI that is not base64: %r" % doc)
    st, _, _, doc = d.request("POST", "/v1/models/ds/detect?budget=0.5&score_threshold=0", img,
                              {"Content-Type": "image/jpeg"})
    if check(st == 200, "detect: %d %r" % (st, doc)):
        dets = doc["detections"]
        check(len(dets) >= 3, "random weights give detections: %d" % len(dets))
        check(all(0 <= b["box"][0] <= b["box"][2] <= 320 and 0 <= b["box"][1] <= b["box"][3] <= 240
                  for b in dets), "boxes inside the image")
        check([b["score"] for b in dets] == sorted((b["score"] for b in dets), reverse=True),
              "by descending score")
        check(all(b["class"] == "c%d" % b["label"] for b in dets), "class names")
        if len(dets) >= 3:
            cut = (dets[1]["score"] + dets[2]["score"]) / 2 if dets[1]["score"] > dets[2]["score"] else None
            st, _, _, few = d.request("POST", "/v1/models/ds/detect?budget=0.5&max_detections=2"
                                      "&score_threshold=0",
                                      img, {"Content-Type": "image/jpeg"})
            check(st == 200 and few["detections"] == dets[:2], "max_detections 2")
            if cut is not None:
                st, _, _, thr = d.request("POST", "/v1/models/ds/detect?budget=0.5&score_threshold=%r"
                                          % cut, img, {"Content-Type": "image/jpeg"})
                check(st == 200 and thr["detections"] == dets[:2], "score_threshold")
    st, _, _, doc = d.request("POST", "/v1/models/ds/detect", image_bytes("PNG", 4, 3000, flat=True),
                              {"Content-Type": "image/png"})
    check(st == 422 and "cannot be resized" in doc["error"], "an image the model cannot size: %r" % doc)


def test_tasks_refused_without_heads(d):
    img = image_bytes("JPEG")
    st, _, _, doc = d.request("POST", "/detect?budget=0.5", img, {"Content-Type": "image/jpeg"})
    check(st == 400 and "no detection head" in doc["error"], "detect on a backbone: %d %r" % (st, doc))
    st, _, _, doc = d.request("POST", "/v1/models/r18/segment", img, {"Content-Type": "image/jpeg"})
    check(st == 400 and "no segmentation head" in doc["error"], "segment on a backbone")


def test_bad_input(d):
    img = image_bytes("JPEG")
    cases = [
        ("POST", "/v2/models/r18/infer", b"{not json", JSON, 400, "malformed JSON"),
        ("POST", "/v2/models/r18/infer", json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["@@@"]}]}), JSON, 400, "base64"),
        ("POST", "/v2/models/r18/infer", v2_body(img, sparsity_budget=2), JSON, 400, "sparsity_budget"),
        ("POST", "/v2/models/r18/infer", v2_body(img, budjet=0.5), JSON, 400, "unknown parameter 'budjet'"),
        ("POST", "/v2/models/r18/infer", v2_body(b"GIF89a not an image"), JSON, 422, "not a JPEG or PNG"),
        ("POST", "/v2/models/r18/infer", v2_body(img).replace('"shape": [1]', '"shape": [-1]'), JSON, 400, "negative"),
        ("POST", "/v2/models/r18/infer", v2_body(img).replace('"shape": [1]', '"shape": [3]'), JSON, 400, "shape[0] is 3"),
        ("POST", "/v2/models/r18/infer", v2_body(img).replace('"shape": [1]', '"shape": []'), JSON, 400, "'shape'"),
        ("POST", "/v2/models/r18/infer", v2_body(img).replace('"BYTES"', '"UINT8"'), JSON, 400, "\"UINT8\""),
        ("POST", "/v2/models/r18/infer", v2_body(img[:200]), JSON, 422, ""),
        ("POST", "/v2/models/nope/infer", v2_body(img), JSON, 404, "no model named 'nope'"),
        ("GET", "/nowhere", None, {}, 404, "no route"),
        ("GET", "/detect", None, {}, 405, "POST only"),
        ("POST", "/detect?budget=abc", img, {"Content-Type": "image/jpeg"}, 400, "parameter 'budget'"),
        ("POST", "/detect", img, {"Content-Type": "image/gif"}, 415, "image/gif"),
        ("POST", "/v2/models/r18/infer", img, {"Content-Type": "image/jpeg"}, 415, ""),
        ("POST", "/v2/models/r18/infer", b"", JSON, 400, "no body"),
        ("POST", "/v2/models/r18/infer", v2_body(image_bytes("PNG", 3000, 2000, flat=True)), JSON, 422, "pixels"),
        ("POST", "/v2/models/r18/infer", v2_body(img, timeout_ms=1), JSON, 504, "deadline"),
    ]
    for method, path, body, headers, want, needle in cases:
        st, resp, _, doc = d.request(method, path, body, headers)
        check(st == want and needle in (doc or {}).get("error", ""),
              "%s %s -> %d %r (want %d, %r)" % (method, path, st, doc, want, needle))
        if want == 405:
            check(resp.getheader("Allow") == "POST", "405 has Allow")
    # oversized headers: the API's JSON 431 up to libmicrohttpd's own limit
    st, _, _, doc = d.request("POST", "/detect", img, {"Content-Type": "image/jpeg", "X-Big": "a" * 100000})
    check(st == 431 and "limit is 65536" in doc["error"], "431 for 100 kB of headers: %d %r" % (st, doc))
    # 413 from Content-Length, before the body is read
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"POST /v2/models/r18/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2000001\r\n\r\n")
    reply = s.recv(4096).decode("latin-1")
    s.close()
    check(reply.startswith("HTTP/1.1 413"), "413 from Content-Length: %r" % reply[:40])
    # 413 by counting a chunked body
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    chunk = b"x" * 65536
    conn.request("POST", "/v2/models/r18/infer", body=iter([chunk] * 40), headers=JSON,
                 encode_chunked=True)
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    check(resp.status == 413 and "limit" in doc["error"], "413 for a chunked body: %d" % resp.status)
    conn.close()
    # a client that goes away mid-body and one that goes away while queued
    for body in (b"POST /detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\nabc",):
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(body)
        s.close()
    s = socket.create_connection(("127.0.0.1", d.port))
    body = v2_body(img).encode()
    s.sendall(b"POST /v2/models/r18/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    s.close()
    st, _, _, _ = d.request("GET", "/v2/health/live")
    check(st == 200, "alive after clients vanished")
    # request ids
    st, resp, _, _ = d.request("GET", "/v2/health/live", headers={"X-Request-Id": "client-id-42"})
    check(resp.getheader("X-Request-Id") == "client-id-42", "X-Request-Id honoured")


def test_admin(d, repo):
    st, _, _, doc = d.request("POST", "/v1/models/r18/reload")
    check(st == 401, "reload needs the token")
    st, _, _, doc = d.request("POST", "/v1/models/r18/reload", headers={"Authorization": "Bearer wrong"})
    check(st == 401, "wrong token")
    auth = {"Authorization": "Bearer " + TOKEN}
    # a broken version 2 must leave version 1 serving
    os.makedirs(os.path.join(repo, "r18", "2"))
    with open(os.path.join(repo, "r18", "2", "model.stp"), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"broken\": 1}   ")
    st, _, _, doc = d.request("POST", "/v1/models/r18/reload", headers=auth)
    check(st == 500 and "loading 'r18' failed" in doc["error"], "failed reload is an error: %r" % doc)
    st, _, _, doc = d.request("GET", "/v2/models/r18")
    check(st == 200 and doc["versions"] == ["1"], "version 1 still served after a failed load")
    # reload under load: requests in flight all succeed, the new version takes over
    shutil.copy(os.path.join(repo, "r18", "1", "model.stp"), os.path.join(repo, "r18", "2", "model.stp"))
    img = image_bytes("JPEG")
    results = []

    def client():
        for _ in range(4):
            results.append(d.request("POST", "/v2/models/r18/infer", v2_body(img, sparsity_budget=0.5), JSON)[0])

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    st, _, _, doc = d.request("POST", "/v2/repository/models/r18/load", headers=auth)
    for t in threads:
        t.join()
    check(st == 200 and doc["state"] == "READY", "load under load")
    check(results == [200] * 12, "no request lost during the reload: %r" % results)
    st, _, _, doc = d.request("GET", "/v2/models/r18")
    check(doc["versions"] == ["2"], "version 2 served after the reload")
    st, _, _, doc = d.request("POST", "/v2/repository/models/r18/unload", headers=auth)
    check(st == 200 and doc["state"] == "UNAVAILABLE", "unload")
    st, resp, _, _ = d.request("GET", "/v2/health/ready")
    check(st == 503, "not ready without the default model")
    st, resp, _, _ = d.request("POST", "/detect", img, {"Content-Type": "image/jpeg"})
    check(st == 503 and resp.getheader("Retry-After") == "1", "unloaded model answers 503")
    st, _, _, doc = d.request("POST", "/v1/models/r18/load", headers=auth)
    check(st == 200 and d.request("GET", "/v2/health/ready")[0] == 200, "load after unload")
    # SIGHUP reloads every loaded model: a new version 3 takes over
    os.makedirs(os.path.join(repo, "r18", "3"))
    shutil.copy(os.path.join(repo, "r18", "1", "model.stp"), os.path.join(repo, "r18", "3", "model.stp"))
    d.proc.send_signal(signal.SIGHUP)
    for _ in range(200):
        doc = d.request("GET", "/v2/models/r18", validate=False)[3]
        if doc.get("versions") == ["3"]:
            break
        time.sleep(0.1)
    check(doc.get("versions") == ["3"], "SIGHUP reloaded the model: %r" % doc)


def test_metrics(d):
    # the job of the client that vanished while queued may still be running: the gauges
    # must come back to zero once it is done (nothing leaks), on however slow a machine
    for _ in range(600):
        st, resp, data, _ = d.request("GET", "/metrics")
        text = data.decode()
        if "stipple_queue_depth 0\n" in text and "stipple_in_flight 0\n" in text:
            break
        time.sleep(0.1)
    check(st == 200 and resp.getheader("Content-Type").startswith("text/plain"), "metrics")
    for needle in ('stipple_requests_total{model="r18",endpoint="infer",status="200"}',
                   'stipple_infer_duration_seconds_bucket{model="r18",le="+Inf"}',
                   'stipple_request_duration_seconds_bucket{model="r18",le="0.001"}',
                   'stipple_mask_density_count{model="r18"}',
                   'stipple_network_gmacs_count{model="r18"}', "stipple_queue_depth 0\n",
                   "stipple_in_flight 0\n", 'stipple_models{state="READY"} 3',
                   'stipple_build_info{version="'):
        check(needle in text, "metrics has " + needle)
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    check(float(values["process_resident_memory_bytes"]) > 10e6 and
          3 <= float(values["process_open_fds"]) < 1000 and
          float(values["process_cpu_seconds_total"]) > 0, "process metrics: %r" % {
              k: v for k, v in values.items() if k.startswith("process_")})
    total = float(values['stipple_request_duration_seconds_sum{model="r18"}'])
    count = float(values['stipple_request_duration_seconds_count{model="r18"}'])
    check(0 < total / count < 30, "request durations in seconds: mean %.4f" % (total / count))
    check(len(d.access) > 10 and all(json.loads(line)["request_id"] for line in d.access),
          "JSON access log lines")


def test_queue_full_and_drain(repo):
    # "big" resizes to 800 x 1067: about half a second a request on one thread
    d = Daemon(repo, "--workers", "1", "--threads_per_worker", "1", "--queue_size", "0",
               "--default_model", "big")
    img = image_bytes("JPEG", 640, 480)
    statuses = []

    def client():
        st, resp, _, doc = d.request("POST", "/v2/models/big/infer", v2_body(img, ["c5"], sparsity_budget=1.0, binary_data_output=True), JSON)
        statuses.append((st, resp.getheader("Retry-After")))
        if st not in (200, 503):
            print("unexpected reply: %r" % doc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(s for s, _ in statuses)
    check(codes.count(200) >= 1 and codes.count(503) >= 1 and set(codes) <= {200, 503},
          "queue 0 with one worker: some 503: %r" % codes)
    check(all(ra == "1" for s, ra in statuses if s == 503), "503 has Retry-After")
    # SIGTERM: readiness 503 at once, in-flight work finishes, exit 0. The
    # burst's requests leave the in-flight gauge just after their replies:
    # wait for 0, so that the 1 below is the request sent now.
    deadline = time.time() + 30
    while time.time() < deadline and b"stipple_in_flight 0" not in d.request(
            "GET", "/metrics", validate=False)[2]:
        time.sleep(0.02)
    result = []
    t = threading.Thread(target=lambda: result.append(
        d.request("POST", "/v2/models/big/infer", v2_body(img, ["c5"], sparsity_budget=1.0, binary_data_output=True), JSON)[0]))
    t.start()
    deadline = time.time() + 30   # until the daemon runs it (slow machines: not 0.2 s)
    while time.time() < deadline and b"stipple_in_flight 1" not in d.request(
            "GET", "/metrics", validate=False)[2]:
        time.sleep(0.02)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    st = d.request("GET", "/v2/health/ready", validate=False)[0]
    t.join()
    rc = d.proc.wait(60)
    check(st == 503, "ready is 503 while draining (got %d)" % st)
    check(result == [200], "in-flight request finished during the drain: %r" % result)
    check(rc == 0, "exit 0 after SIGTERM (got %r)" % rc)


def metric_sum(text, name, **labels):
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and all('%s="%s"' % kv in (m.group(2) or "") for kv in labels.items()):
            total += float(m.group(3))
    return total


def test_hangups(repo):
    # one worker, 4 places in the queue, about half a second a request: 40
    # clients post and hang up at once while a live client keeps posting;
    # the live one must never get 503, and the hung-up requests must not run
    d = Daemon(repo, "--workers", "1", "--threads_per_worker", "1", "--queue_size", "4",
               "--default_model", "big")
    try:
        body = v2_body(image_bytes("JPEG", 640, 480), ["c5"], sparsity_budget=1.0,
                       binary_data_output=True)
        raw = (b"POST /v2/models/big/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body.encode()
        live, burst_sent = [], threading.Event()
        deadline = time.time() + 300

        def live_client():
            # two requests after the burst, however slow the machine (ISA level)
            after = 0
            while after < 2 and time.time() < deadline:
                sent_after = burst_sent.is_set()
                live.append(d.request("POST", "/v2/models/big/infer", body, JSON, validate=False)[0])
                after += sent_after

        t = threading.Thread(target=live_client)
        t.start()
        while time.time() < deadline and b"stipple_in_flight 1" not in d.request(
                "GET", "/metrics", validate=False)[2]:
            time.sleep(0.02)
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", d.port))
            s.sendall(raw)
            s.close()
        burst_sent.set()
        t.join()
        text = d.request("GET", "/metrics", validate=False)[2].decode()
        hung = metric_sum(text, "stipple_requests_total", endpoint="infer", status="499")
        ran = metric_sum(text, "stipple_infer_duration_seconds_count")
        check(len(live) >= 3 and set(live) == {200}, "hang-ups: the live client got %r" % live)
        check(hung == 40 and ran <= len(live) + 2,
              "hang-ups: %d answered 499 to the logs; %d runs for %d live requests" % (hung, ran, len(live)))
        check(d.stop() == 0, "hang-up daemon exits 0")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def test_bundled_default_model():
    # the interface the README relies on: no --models, the bundled models
    # (installed, or the source tree's models/ from a build tree): /detect on
    # the COCO detector, showing detections from score 0.3 by default, and
    # /segment on the model that can segment
    d = Daemon(None)
    try:
        with open(os.path.join(TOP_SRCDIR, "examples", "street.jpg"), "rb") as f:
            street = f.read()
        with open(os.path.join(TOP_SRCDIR, "examples", "scene.jpg"), "rb") as f:
            scene = f.read()
        st, _, _, doc = d.request("POST", "/detect", street, {"Content-Type": "image/jpeg"})
        dets = (doc or {}).get("detections", [])
        people = [b for b in dets if b["class"] == "person"]
        check(st == 200 and doc["model"]["name"] == "nanodet-g" and len(people) >= 5 and
              all(b["score"] >= 0.3 for b in dets),
              "no --models: /detect on the bundled detector: %d, %s, %d people of %d detections" % (
                  st, doc and doc["model"]["name"], len(people), len(dets)))
        # a photo three times as large decodes at a reduced scale (1/4 here):
        # the same objects, boxes in its own pixels
        big = io.BytesIO()
        Image.open(io.BytesIO(street)).resize((2304, 1728), Image.BICUBIC).save(big, "JPEG", quality=92)
        st, _, _, large = d.request("POST", "/detect", big.getvalue(), {"Content-Type": "image/jpeg"})
        got = (large or {}).get("detections", [])
        near = [min(max(abs(g - 3 * w) for g, w in zip(b["box"], a["box"])) for b in got
                    if b["class"] == a["class"]) for a in people] if got else [1e9]
        big_people = [b for b in got if b["class"] == "person"]
        check(st == 200 and len(big_people) >= len(people) - 2 and
              sorted(near)[len(near) // 2] <= 12 and max(x for b in got for x in b["box"]) > 1500,
              "a 2304x1728 photo (reduced decode): %d, %d people (%d at 768x576), median "
              "corner error of the small photo's people, 3x, against its own: %.1f px" % (
                  st, len(big_people), len(people), sorted(near)[len(near) // 2]))
        st, _, _, doc = d.request("POST", "/segment?budget=0.5", scene, {"Content-Type": "image/jpeg"})
        check(st == 200 and doc["model"]["name"] == "stipple-r18-detseg",
              "no --models: /segment on the bundled segmenter: %d, %s" % (
                  st, doc and doc["model"]["name"]))
        # examples/stipple_client.py: /detect with --draw, and KServe v2 as
        # tritonclient shapes it, the same detections
        client = [sys.executable, os.path.join(TOP_SRCDIR, "examples", "stipple_client.py"),
                  os.path.join(TOP_SRCDIR, "examples", "street.jpg"), "--url",
                  "http://127.0.0.1:%d" % d.port, "--json"]
        svg = os.path.join(WORK, "street.svg")
        runs = [subprocess.run(client + extra, capture_output=True, text=True, timeout=300)
                for extra in (["--budget", "0.5", "--draw", svg], ["--kserve"])]
        outs = [json.loads(r.stdout) if r.returncode == 0 else {} for r in runs]
        rects = 0
        if os.path.exists(svg):
            import xml.etree.ElementTree as ET
            rects = sum(1 for e in ET.parse(svg).iter() if e.tag.endswith("rect"))
        plain, kserve = [o.get("detections", []) for o in outs]
        check(all(r.returncode == 0 for r in runs) and len(plain) >= 5 and
              [x["class"] for x in plain] == [x["class"] for x in kserve] and
              all(abs(a - b) < 1e-3 for x, y in zip(plain, kserve) for a, b in zip(x["box"], y["box"])) and
              rects == len(plain),
              "examples/stipple_client.py: /detect %d, KServe %d detections, %d boxes drawn\n%s" % (
                  len(plain), len(kserve), rects, "".join(r.stderr for r in runs)))
        bad = subprocess.run(client + ["--budget", "3"], capture_output=True, text=True, timeout=60)
        check(bad.returncode == 1 and "HTTP 400" in bad.stderr and "budget" in bad.stderr,
              "stipple_client.py reports the daemon's error: %r" % bad.stderr)
        # what the container test asks of the image, on the same models
        rt = subprocess.run([sys.executable, os.path.join(TOP_SRCDIR, "scripts", "container-roundtrip.py"),
                             "http://127.0.0.1:%d" % d.port], capture_output=True, text=True, timeout=300)
        check(rt.returncode == 0 and "FAIL" not in rt.stdout,
              "scripts/container-roundtrip.py on the bundled models: exit %d\n%s"
              % (rt.returncode, rt.stdout + rt.stderr))
        check(d.stop() == 0, "bundled model daemon exits 0")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def test_skipped_masks():
    """A sparse NanoDet (masks on its stages and head levels, random mask
    convs): a KServe infer that asks only for a feature map skips the head
    and its masks, and return_masks returns the masks that ran; asking for
    boxes returns them all."""
    from stipple_train import nanodet
    from stipple_train.export import load_model, save_model
    repo = os.path.join(WORK, "repo-masks")
    path = os.path.join(repo, "snd", "1", "model.stp")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.dirname(path))
    dense = load_model(os.path.join(TOP_SRCDIR, "models", "nanodet-g", "1", "model.stp"))
    sparse = nanodet.sparse_copy(dense, stages=[1, 1, 1, 1], head=[1, 1, 1], window=7,
                                 grid_stride=5, temperature=1.0)
    torch.manual_seed(2)
    for m in nanodet.masks_of(sparse):
        m.weight.data.normal_(0, 0.01)
    save_model(sparse, path)
    set_resize(path, 160)
    d = Daemon(repo)
    try:
        img = image_bytes("JPEG")
        for outputs, want in ((["p3"], ["p3"] + ["mask%d" % i for i in range(4)]),
                              (["boxes"], ["boxes"] + ["mask%d" % i for i in range(7)])):
            st, _, _, doc = d.request("POST", "/v2/models/snd/infer",
                                      v2_body(img, outputs, sparsity_budget=0.5,
                                              return_masks=True), JSON)
            names = [o["name"] for o in doc["outputs"]] if st == 200 else doc
            check(st == 200 and names == want,
                  "return_masks with outputs %r: the masks that ran: %r" % (outputs, names))
        check(d.stop() == 0, "sparse NanoDet daemon exits 0")
    finally:
        if d.proc.poll() is None:
            d.proc.kill()


def main():
    repo = os.path.join(WORK, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    export_model(os.path.join(repo, "r18", "1", "model.stp"), "sparse-resnet18", 1)
    os.makedirs(os.path.join(repo, "big", "1"))
    shutil.copy(os.path.join(repo, "r18", "1", "model.stp"), os.path.join(repo, "big", "1", "model.stp"))
    set_resize(os.path.join(repo, "big", "1", "model.stp"), 800, 1333)
    export_model(os.path.join(repo, "ds", "1", "model.stp"), "sparse-resnet18-fpn-detseg", 2,
                 "--num-classes", "5")
    set_classes(os.path.join(repo, "ds", "1", "model.stp"), ["c%d" % i for i in range(1, 6)])
    os.makedirs(os.path.join(repo, "empty"))   # a folder with no version: FAILED, served by nothing
    d = Daemon(repo, "--max_pixels", "5000000", "--max_body_bytes", "2000000", "--default_model", "r18")
    try:
        test_health_and_metadata(d)
        test_infer(d)
        test_tasks_refused_without_heads(d)
        test_tasks(d)
        test_v2_tasks(d)
        test_bad_input(d)
        test_metrics(d)
        test_admin(d, repo)
        rc = d.stop()
        check(rc == 0, "SIGTERM exits 0 (got %r)" % rc)
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    test_queue_full_and_drain(repo)
    test_hangups(repo)
    test_bundled_default_model()
    test_skipped_masks()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
