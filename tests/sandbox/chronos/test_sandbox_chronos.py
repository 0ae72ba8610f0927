#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""galley-sandbox --chronos-port as users run it (issue #16): the ready file names the port,
the job API answers over real HTTP on loopback (what curl sees), faults on the Chronos port,
jobs kept across a restart with --state, and jobs run as real processes with --tasks process
(exit codes decide success and failure).

  /usr/bin/python3 test_sandbox_chronos.py build/bin/galley-sandbox

Every process started is stopped; everything lives in a temporary directory.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from sandbox_testlib import check, http, results  # noqa: E402

SANDBOX = sys.argv[1]


def start(tmp, *extra):
    ready = os.path.join(tmp, "ready.json")
    if os.path.exists(ready):
        os.remove(ready)
    p = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--chronos-port", "0",
                          "--ready-file", ready, "--chronos-job-time", "100", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline and not os.path.exists(ready):
        if p.poll() is not None:
            raise SystemExit("galley-sandbox exited: " + p.stderr.read().decode())
        time.sleep(0.05)
    with open(ready) as f:
        port = json.load(f)["chronos_port"]
    return p, f"http://127.0.0.1:{port}/v1/scheduler"


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def job(base, name):
    s, b = http("GET", f"{base}/job/{name}")
    return json.loads(b) if s == 200 else None


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def main():
    with tempfile.TemporaryDirectory(prefix="galley-chronos-") as tmp:
        state = os.path.join(tmp, "state.json")
        p, base = start(tmp, "--state", state)
        try:
            s, b = http("POST", f"{base}/iso8601", {"name": "nightly", "command": "true",
                                                    "schedule": "R/2099-01-01T03:00:00Z/P1D"})
            check("create a scheduled job: 204, empty body", s == 204 and b == "", f"{s} {b}")
            s, b = http("POST", f"{base}/dependency", {"name": "after", "command": "true", "parents": ["nightly"]})
            check("create a dependent job: 204", s == 204, f"{s} {b}")
            s, b = http("GET", f"{base}/jobs")
            check("list: both jobs", s == 200 and sorted(j["name"] for j in json.loads(b)) == ["after", "nightly"], b)
            s, b = http("PUT", f"{base}/job/nightly")
            check("manual start: 204", s == 204, f"{s} {b}")
            check("the run succeeds and triggers the dependant",
                  wait_for(lambda: (job(base, "after") or {}).get("successCount") == 1), job(base, "after"))
            s, b = http("GET", f"{base}/job/nope")
            check("unknown job: 400 with Chronos' message",
                  s == 400 and "Job 'nope' not found" in json.loads(b)["message"], f"{s} {b}")
            root = base.rsplit("/v1/", 1)[0]
            s, _ = http("PUT", f"{root}/_sandbox/faults", {"fail_next": 1, "fail_status": 503})
            s1, _ = http("GET", f"{base}/jobs")
            s2, _ = http("GET", f"{base}/jobs")
            check("faults on the Chronos port", s == 200 and s1 == 503 and s2 == 200, f"{s} {s1} {s2}")
        finally:
            stop(p)
        p, base = start(tmp, "--state", state)
        try:
            j = job(base, "nightly")
            check("jobs survive a restart with --state", j is not None and j["successCount"] == 1, j)
            check("the dependant too", job(base, "after") is not None)
        finally:
            stop(p)

        p, base = start(tmp, "--tasks", "process", "--log-dir", os.path.join(tmp, "logs"))
        try:
            for name, cmd in (("ok", "true"), ("bad", "false")):
                s, b = http("POST", f"{base}/iso8601", {"name": name, "command": cmd, "retries": 0,
                                                        "schedule": "R/2099-01-01T00:00:00Z/P1D"})
                check(f"process runner: create {name}", s == 204, f"{s} {b}")
                http("PUT", f"{base}/job/{name}")
            check("process runner: exit 0 is a success",
                  wait_for(lambda: (job(base, "ok") or {}).get("successCount") == 1), job(base, "ok"))
            check("process runner: exit 1 is an error",
                  wait_for(lambda: (job(base, "bad") or {}).get("errorCount") == 1), job(base, "bad"))
        finally:
            stop(p)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
