#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Load test of net::HttpServer through galley-sandbox's Marathon port (issue #11): many idle
keep-alive connections, slowloris headers and large bodies at once, while a fresh client keeps
asking GET /v2/apps. Prints the fresh client's latency and the sandbox's threads and RSS
(/proc/PID), and PASS/FAIL against bounds. Loopback only.

    python3 bench/http_load.py [--sandbox build/bin/galley-sandbox] [--idle 1000] [--slow 200]
                               [--bodies 16] [--body-mb 31] [--ok-body-mb 7]

Bodies: --bodies uploads of --body-mb MB (over the Marathon port's 8 MiB limit: 413) and as many
of --ok-body-mb MB (under it: read, parsed and refused by the emulator with 422), all at once.
Exit 0 PASS, 1 FAIL, 2 error."""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def proc(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def get(url, timeout=10):
    t0 = time.time()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0
    return status, (time.time() - t0) * 1000


def upload(port, path, size, out):
    """PUT `size` bytes on a raw socket; appends the status (0: connection cut first)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {size}\r\n\r\n".encode())
        # A flat JSON object with a long string and a wrong-typed id: parsed, then refused (422).
        head, tail = b'{"id":5,"cmd":"', b'"}'
        s.sendall(head)
        chunk = b"x" * (1 << 20)
        left = size - len(head) - len(tail)
        while left > 0:
            n = min(len(chunk), left)
            s.sendall(chunk[:n])
            left -= n
        s.sendall(tail)
        head = s.recv(64)
        s.close()
        out.append(int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0)
    except OSError:
        out.append(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default=os.path.join(ROOT, "build/bin/galley-sandbox"))
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--bodies", type=int, default=16)
    ap.add_argument("--body-mb", type=int, default=31)
    ap.add_argument("--ok-body-mb", type=int, default=7)
    ap.add_argument("--max-latency-ms", type=float, default=1000)
    ap.add_argument("--max-threads", type=int, default=64)
    ap.add_argument("--max-rss-growth-mb", type=int, default=150)
    a = ap.parse_args()
    if not os.access(a.sandbox, os.X_OK):
        print(f"http_load: no galley-sandbox at {a.sandbox}", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="galley-http-load-")
    ready = os.path.join(tmp, "ready.json")
    p = subprocess.Popen([a.sandbox, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socks = []
    try:
        deadline = time.time() + 20
        while not os.path.exists(ready) and time.time() < deadline:
            time.sleep(0.05)
        port = json.load(open(ready))["marathon_port"]
        base = f"http://127.0.0.1:{port}"
        pid = p.pid
        threads0, rss0 = proc(pid, "Threads"), proc(pid, "VmRSS") // 1024

        t0 = time.time()
        for _ in range(a.idle):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: m\r\n\r\n")
            s.recv(4096)
            socks.append(s)
        for _ in range(a.slow):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /v2/apps HTTP/1.1\r\nHost: m\r\n")
            socks.append(s)
        setup_s = time.time() - t0

        answers, ok_answers = [], []
        uploads = [threading.Thread(target=upload, args=(port, "/v2/apps/big", a.body_mb << 20, answers))
                   for _ in range(a.bodies)]
        uploads += [threading.Thread(target=upload, args=(port, "/v2/apps/ok", a.ok_body_mb << 20, ok_answers))
                    for _ in range(a.bodies)]
        for t in uploads:
            t.start()
        lat, statuses, peak_threads, peak_rss = [], [], 0, 0
        while any(t.is_alive() for t in uploads) or len(lat) < 10:
            status, ms = get(base + "/v2/apps")
            statuses.append(status)
            lat.append(ms)
            peak_threads = max(peak_threads, proc(pid, "Threads"))
            peak_rss = max(peak_rss, proc(pid, "VmRSS") // 1024)
            time.sleep(0.05)
        for t in uploads:
            t.join()
        load_s = time.time() - t0
        time.sleep(0.5)
        threads1, rss1, hwm = proc(pid, "Threads"), proc(pid, "VmRSS") // 1024, proc(pid, "VmHWM") // 1024
        for s in socks:
            s.close()
        t1 = time.time()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        stop_s = time.time() - t1

        ok_lat = [l for l, s in zip(lat, statuses) if s == 200]
        print(f"http_load: {a.idle} idle + {a.slow} slowloris connections (cap 512) opened in {setup_s:.1f} s; "
              f"{a.bodies} x {a.body_mb} MB and {a.bodies} x {a.ok_body_mb} MB uploads")
        print(f"http_load: fresh client GET /v2/apps: {len(ok_lat)}/{len(lat)} answered 200, "
              f"median {statistics.median(ok_lat) if ok_lat else 0:.0f} ms, max {max(lat):.0f} ms")
        print(f"http_load: {a.body_mb} MB uploads answered {sorted(answers)}")
        print(f"http_load: {a.ok_body_mb} MB uploads answered {sorted(ok_answers)}")
        print(f"http_load: sandbox threads {threads0} before, {peak_threads} peak, {threads1} after")
        print(f"http_load: sandbox RSS {rss0} MB before, {peak_rss} MB peak seen ({hwm} MB high-water), "
              f"{rss1} MB after; the whole run {load_s:.1f} s; SIGTERM exit {rc} in {stop_s:.2f} s")
        failures = []
        if len(ok_lat) != len(lat) or max(lat) > a.max_latency_ms:
            failures.append(f"fresh client: every GET answered 200 within {a.max_latency_ms:.0f} ms")
        if peak_threads > a.max_threads:
            failures.append(f"threads at most {a.max_threads}")
        if rss1 - rss0 > a.max_rss_growth_mb:
            failures.append(f"RSS after at most {a.max_rss_growth_mb} MB above before")
        if any(x not in (413, 0) for x in answers):
            failures.append("oversized uploads answered 413 (or cut)")
        if rc != 0 or stop_s > 5:
            failures.append("SIGTERM exits 0 within 5 s")
        print("http_load: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
        return 0 if not failures else 1
    finally:
        for s in socks:
            s.close()
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
