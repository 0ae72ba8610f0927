#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Loads N apps into a Marathon (emulator) and times GET /v2/apps?embed=apps.tasks.

Stdlib only. Apps are created with PUT /v2/apps arrays (one deployment per batch) over a
few keep-alive connections, respecting the server's cap on running deployments (403 means
wait and retry). Prints the timings and PASS/FAIL against --limit-ms; exits 1 on FAIL.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def call(c, method, path, body=None):
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


def app(i, instances):
    env = ["production", "staging"][i % 2]
    return {
        "id": f"/app/{env}/svc-{i:05d}",
        "cmd": "node /app/server.js",
        "cpus": 0.05, "mem": 64, "instances": instances,
        "labels": {"environment": env, "version": f"master-{i:040x}-1"},
        "env": {"SERVICE_NAME": f"svc-{i:05d}", "SERVICE_TAGS": f"{env},internal-listen-http-3000"},
        "healthChecks": [{"protocol": "HTTP", "path": "/healthcheck", "gracePeriodSeconds": 2,
                          "intervalSeconds": 10, "maxConsecutiveFailures": 3}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
    }


def load(port, apps, instances, batch, workers):
    batches = [[app(i, instances) for i in range(s, min(s + batch, apps))] for s in range(0, apps, batch)]
    lock = threading.Lock()
    errors = []

    def worker():
        c = conn(port)
        while True:
            with lock:
                if not batches:
                    return
                b = batches.pop()
            while True:
                status, body = call(c, "PUT", "/v2/apps", b)
                if status == 200:
                    break
                if status == 403:  # too many running deployments: back off
                    time.sleep(0.2)
                    continue
                errors.append((status, body[:300]))
                return

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"creating apps failed: {errors[0]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--apps", type=int, default=5000)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--limit-ms", type=float, default=300)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()

    t0 = time.time()
    load(a.port, a.apps, a.instances, a.batch, a.workers)
    t1 = time.time()
    print(f"created {a.apps} apps x {a.instances} instances in {t1 - t0:.1f} s", flush=True)
    c = conn(a.port)
    want = a.apps * a.instances
    while True:
        _, body = call(c, "GET", "/_sandbox/marathon/state")
        st = json.loads(body)
        if st["tasksRunning"] >= want and st["deployments"] == 0:
            break
        if time.time() - t1 > a.timeout:
            raise SystemExit(f"tasks did not all run in {a.timeout} s: {st}")
        time.sleep(0.5)
    print(f"{want} tasks running, deployments finished, {time.time() - t1:.1f} s after the last create", flush=True)

    times = []
    size = 0
    for _ in range(a.runs + 1):
        start = time.perf_counter()
        status, body = call(c, "GET", "/v2/apps?embed=apps.tasks")
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise SystemExit(f"GET /v2/apps answered {status}")
        times.append(elapsed)
        size = len(body)
    parsed = json.loads(body)
    napps = len(parsed["apps"])
    ntasks = sum(len(x["tasks"]) for x in parsed["apps"])
    if napps != a.apps or ntasks != want:
        raise SystemExit(f"response has {napps} apps and {ntasks} tasks, expected {a.apps} and {want}")
    warm = times[1:]  # the first call also serialises every task once
    med = statistics.median(warm)
    print(f"GET /v2/apps?embed=apps.tasks: {napps} apps, {ntasks} tasks, {size / 1e6:.1f} MB")
    print(f"  first call {times[0]:.1f} ms; next {a.runs}: median {med:.1f} ms, min {min(warm):.1f} ms, "
          f"max {max(warm):.1f} ms")
    ok = med < a.limit_ms
    print(f"{'PASS' if ok else 'FAIL'}: median {med:.1f} ms {'<' if ok else '>='} {a.limit_ms:.0f} ms")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
