"""hangup-bench.py - what clients that post and hang up cost the live ones.

One worker on one thread with a queue of 4 serves a model; a live client
posts a KServe v2 request in a loop, first alone for --seconds, then while
--bursts bursts of --burst clients each post the same request and close
the connection at once. Prints, for both phases, the live requests, how
many got 503, their median and max latency, and what the daemon counted
as 499 (dropped or abandoned hang-ups).

    mkdir -p /tmp/hb/big/1
    PYTHONPATH=train /usr/bin/python3 -m stipple_train.export --arch sparse-resnet18 \\
        --random-init --seed 1 -o /tmp/hb/big/1/model.stp
    PYTHONPATH=train /usr/bin/python3 -m stipple_train.set_input /tmp/hb/big/1/model.stp \\
        --short-side 800 --max-long-side 1333
    /usr/bin/python3 bench/hangup-bench.py --stippled build/stippled --models /tmp/hb --model big
"""
import argparse
import base64
import io
import json
import re
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request

from PIL import Image


def start(stippled, models, model):
    proc = subprocess.Popen([stippled, "--listen", "127.0.0.1:0", "--models", models,
                             "--default_model", model, "--workers", "1",
                             "--threads_per_worker", "1", "--queue_size", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on port (\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    raise RuntimeError("stippled did not start")


def post(url, body):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def hung_up(port):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port).read().decode()
    return sum(float(v) for v in re.findall(r'stipple_requests_total\{[^}]*status="499"\} (\S+)', text))


def phase(port, model, body, seconds, bursts, burst):
    url = "http://127.0.0.1:%d/v2/models/%s/infer" % (port, model)
    raw = (b"POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % (model.encode(), len(body))) + body
    results, stop = [], threading.Event()

    def live():
        while not stop.is_set():
            t = time.monotonic()
            results.append((post(url, body), time.monotonic() - t))

    before = hung_up(port)
    t = threading.Thread(target=live)
    t.start()
    for _ in range(bursts):
        time.sleep(seconds / (bursts + 1))
        for _ in range(burst):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(raw)
            s.close()
    time.sleep(seconds / (bursts + 1))
    stop.set()
    t.join()
    lat = sorted(l for _, l in results)
    return {"live": len(results), "503": sum(s == 503 for s, _ in results),
            "median_s": statistics.median(lat), "max_s": lat[-1], "499": hung_up(port) - before}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stippled", required=True)
    ap.add_argument("--models", required=True, help="a model repository")
    ap.add_argument("--model", required=True)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--burst", type=int, default=40)
    a = ap.parse_args()
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(buf, "JPEG")
    body = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                   "data": [base64.b64encode(buf.getvalue()).decode()]}],
                       "parameters": {"sparsity_budget": 1.0, "binary_data_output": True}}).encode()
    proc, port = start(a.stippled, a.models, a.model)
    try:
        print("| phase | live requests | 503 | median s | max s | 499 counted |")
        print("|---|---|---|---|---|---|")
        for name, bursts in (("alone", 0), ("%d bursts of %d hang-ups" % (a.bursts, a.burst), a.bursts)):
            r = phase(port, a.model, body, a.seconds, bursts, a.burst)
            print("| %s | %d | %d | %.3f | %.3f | %d |" % (name, r["live"], r["503"], r["median_s"],
                                                          r["max_s"], r["499"]))
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
