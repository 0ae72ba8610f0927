#!/usr/bin/env python3
"""galley-sandbox under abuse (issue #11): idle and slowloris connections beyond the cap, every
fault status (204 and 304 included), an app with 100,000,000 instances, 16 bodies of 31 MB at
once, and SIGTERM during all of it. Loopback only, bounded counts and times.
Usage: test_sandbox_abuse.py path/to/galley-sandbox"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from sandbox_testlib import check, results
import sandbox_testlib

SANDBOX = sys.argv[1]


def http(method, url, body=None, timeout=10, raw=None):
    # Under abuse a refused or reset connection is an answer to count, not an error: status 0.
    try:
        return sandbox_testlib.http(method, url, body, timeout, raw)
    except OSError as e:
        return 0, str(e)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_mb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0]) // 1024


def threads(pid):
    return int(proc_status(pid)["Threads"])


def start(tmp, *extra):
    ready = os.path.join(tmp, "ready.json")
    if os.path.exists(ready):
        os.unlink(ready)
    p = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                          "--health-delay", "50", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline and not os.path.exists(ready):
        if p.poll() is not None:
            break
        time.sleep(0.05)
    info = json.load(open(ready)) if os.path.exists(ready) else None
    return p, info


def sigterm(p, limit):
    """SIGTERM; returns (exit code or None, seconds taken)."""
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = None
    return rc, time.time() - t0


def timed_get(url):
    t0 = time.time()
    status, _ = http("GET", url, timeout=10)
    return status, time.time() - t0


def connections_and_faults(tmp):
    p, info = start(tmp)
    m = f"http://127.0.0.1:{info['marathon_port']}"
    mport = info["marathon_port"]
    try:
        # 600 idle keep-alive connections and 100 slowloris headers against a cap of 512.
        idle, slow = [], []
        for i in range(700):
            try:
                s = socket.create_connection(("127.0.0.1", mport), timeout=5)
                if i < 600:
                    s.sendall(b"GET /ping HTTP/1.1\r\nHost: m\r\n\r\n")
                    s.recv(4096)
                    idle.append(s)
                else:
                    s.sendall(b"GET /v2/apps HTTP/1.1\r\nHost: m\r\nX-Slow: ")
                    slow.append(s)
            except OSError:
                pass  # the connection was refused or reset (the cap): it holds nothing
        worst = 0.0
        ok = True
        for _ in range(5):
            status, took = timed_get(m + "/v2/apps")
            ok = ok and status == 200
            worst = max(worst, took)
        check("a fresh client is answered beside 600 idle + 100 slowloris connections", ok and worst < 3,
              (ok, worst))
        check("the connections cost no threads", threads(p.pid) < 60, threads(p.pid))
        for s in idle + slow:
            s.close()

        # Every fault status, 204 and 304 included, is answered and the sandbox lives on.
        for st in (204, 304, 500, 503, 599):
            status, body = http("PUT", m + "/_sandbox/faults", {"fail_next": 1, "fail_status": st})
            got, _ = http("GET", m + "/v2/apps")
            check(f"fail_status {st} is injected", status == 200 and got == st, (status, body, got))
        status, _ = http("GET", m + "/ping")
        check("the sandbox survives every fault status", status == 200 and p.poll() is None, (status, p.poll()))
        status, body = http("PUT", m + "/_sandbox/faults", {"fail_next": 1, "fail_status": 100})
        check("a 1xx fail_status is refused", status == 400 and "200..599" in body, (status, body))

        # A long injected latency does not hold up SIGTERM.
        http("PUT", m + "/_sandbox/faults", {"latency_ms": 600000})
        waiter = threading.Thread(target=http, args=("GET", m + "/v2/apps"), kwargs={"timeout": 30}, daemon=True)
        waiter.start()
        time.sleep(0.3)
        rc, took = sigterm(p, 15)
        check("SIGTERM with a request sleeping out 600 s of latency stops promptly", rc == 0 and took < 5,
              (rc, took))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def huge_app(tmp):
    p, info = start(tmp)
    m = f"http://127.0.0.1:{info['marathon_port']}"
    try:
        rss0 = rss_mb(p.pid)
        status, body = http("POST", m + "/v2/apps", {"id": "/huge", "cmd": "sleep 100", "instances": 100000000,
                                                    "cpus": 0.01, "mem": 1})
        check("an app with 100,000,000 instances is accepted (Marathon's RAML allows any int32)", status == 201,
              (status, body[:200]))
        worst, peak, running = 0.0, 0, 0
        t_end = time.time() + 6
        while time.time() < t_end:
            st, took = timed_get(m + "/ping")
            worst = max(worst, took if st == 200 else 99)
            peak = max(peak, rss_mb(p.pid))
            time.sleep(0.2)
        status, body = http("GET", m + "/v2/apps/huge")
        if status == 200:
            running = json.loads(body)["app"]["tasksRunning"]
        check("the API keeps answering while it scales", worst < 2, worst)
        check("tasks stop at the emulated cluster's size", 0 < running <= 20000, running)
        check("memory stays bounded", peak < rss0 + 400, (rss0, peak))
        status, body = http("GET", m + "/v2/deployments")
        check("the deployment stays in progress, as on a full cluster",
              status == 200 and len(json.loads(body)) == 1, body[:200])
        status, body = http("POST", m + "/v2/apps", {"id": "/too-many", "cmd": "sleep 1", "instances": 3000000000})
        check("instances beyond int32 get Marathon's 422",
              status == 422 and "error.expected.int" in body and "/instances" in body, (status, body[:300]))
        rc, took = sigterm(p, 15)
        check("SIGTERM stops it promptly", rc == 0 and took < 5, (rc, took))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def big_bodies(tmp):
    p, info = start(tmp)
    m = f"http://127.0.0.1:{info['marathon_port']}"
    c = f"http://127.0.0.1:{info['consul_port']}"
    try:
        rss0 = rss_mb(p.pid)
        body = b"x" * (31 << 20)
        answers = []

        def send(url):
            answers.append(http("PUT", url, raw=body, timeout=60)[0])

        ts = [threading.Thread(target=send, args=(m + "/v2/apps/big" if i % 2 else c + "/v1/kv/big",))
              for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        # 413 when the answer arrived before the upload was cut; 0 when the client saw the
        # connection close while it was still sending.
        check("16 bodies of 31 MB are refused", all(a in (413, 0) for a in answers) and 413 in answers, answers)
        time.sleep(0.5)
        rss1 = rss_mb(p.pid)
        check("they leave no memory behind", rss1 < rss0 + 100, (rss0, rss1))
        status, _ = http("GET", m + "/ping")
        check("the sandbox still answers", status == 200)
        # Bodies within the server's limit (4 MiB for Consul) are read and handled (Consul's
        # own 413 for values over 512 KiB), and their memory is given back.
        ok = []

        def send_ok(i):
            ok.append(http("PUT", f"{c}/v1/kv/k{i}", raw=b"v" * (3 << 20), timeout=60)[0])

        ts = [threading.Thread(target=send_ok, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        time.sleep(0.5)
        rss2 = rss_mb(p.pid)
        check("16 bodies of 3 MB are read and answered", ok == [413] * 16, ok)
        check("and give their memory back", rss2 < rss0 + 100, (rss0, rss2))
        # Nesting bombs just under the body limits: refused before parsing (unparsed, an 8 MiB
        # one would become a DOM of over 600 MB).
        bombs, peak = [], [0]

        def bomb(url, size):
            bombs.append(http("PUT", url, raw=b"[" * size, timeout=60)[0])

        ts = [threading.Thread(target=bomb, args=(m + "/v2/apps/deep", (8 << 20) - 64)) for _ in range(4)]
        ts += [threading.Thread(target=bomb, args=(c + "/v1/catalog/register", (4 << 20) - 64)) for _ in range(4)]
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts):
            peak[0] = max(peak[0], rss_mb(p.pid))
            time.sleep(0.02)
        check("8 nesting bombs are refused with 400", bombs == [400] * 8, bombs)
        check("without building them", peak[0] < rss0 + 200, (rss0, peak[0]))
        rc, took = sigterm(p, 15)
        check("SIGTERM stops it", rc == 0 and took < 5, (rc, took))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="galley-sandbox-abuse-")
    connections_and_faults(tmp)
    huge_app(tmp)
    big_bodies(tmp)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
