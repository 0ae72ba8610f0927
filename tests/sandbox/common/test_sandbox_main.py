#!/usr/bin/env python3
"""galley-sandbox as a process: the ready file, both APIs answering, --state surviving a
restart (a Marathon app and a Consul key), a clean exit on SIGTERM, and bad options.
Usage: test_sandbox_main.py path/to/galley-sandbox"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from sandbox_testlib import check, http, results

SANDBOX = sys.argv[1]


def start(state, ready):
    if os.path.exists(ready):
        os.unlink(ready)
    p = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--state", state,
                          "--ready-file", ready, "--health-delay", "50"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 20
    while time.time() < deadline and not os.path.exists(ready):
        if p.poll() is not None:
            break
        time.sleep(0.05)
    info = json.load(open(ready)) if os.path.exists(ready) else None
    return p, info


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def main():
    tmp = tempfile.mkdtemp(prefix="galley-sandbox-main-")
    state, ready = os.path.join(tmp, "state.json"), os.path.join(tmp, "ready.json")
    procs = []
    try:
        p, info = start(state, ready)
        procs.append(p)
        check("ready file written with both ports and the pid",
              info and info["marathon_port"] > 0 and info["consul_port"] > 0 and info["pid"] == p.pid, info)
        m = f"http://127.0.0.1:{info['marathon_port']}"
        c = f"http://127.0.0.1:{info['consul_port']}"
        status, body = http("GET", m + "/ping")
        check("marathon answers /ping", status == 200 and body.strip().strip('"') == "pong", (status, body))
        status, body = http("GET", c + "/v1/status/leader")
        check("consul answers /v1/status/leader", status == 200 and ":" in body, (status, body))
        status, body = http("POST", m + "/v2/apps", {"id": "/app/production/kept", "cmd": "sleep 100",
                                                       "instances": 2, "cpus": 0.1, "mem": 32})
        check("create an app", status == 201, (status, body))
        req = urllib.request.Request(c + "/v1/kv/app/production/kept/LOG_LEVEL", data=b"debug", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            check("put a key", r.read().decode().strip() == "true")
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(state):
            time.sleep(0.05)
        time.sleep(0.3)  # the saver checks every 100 ms
        check("state file written while running", os.path.exists(state))
        rc = stop(p)
        check("SIGTERM exits 0", rc == 0, rc)
        saved = json.load(open(state))
        check("state file is one JSON document with both APIs", "marathon" in saved and "consul" in saved)

        p2, info2 = start(state, ready)
        procs.append(p2)
        m2 = f"http://127.0.0.1:{info2['marathon_port']}"
        c2 = f"http://127.0.0.1:{info2['consul_port']}"
        status, body = http("GET", m2 + "/v2/apps/app/production/kept")
        app = json.loads(body).get("app", {}) if status == 200 else {}
        check("the app survives a restart", status == 200 and app.get("instances") == 2, (status, body[:200]))
        deadline = time.time() + 10
        running = 0
        while time.time() < deadline:
            status, body = http("GET", m2 + "/v2/apps/app/production/kept")
            running = json.loads(body)["app"].get("tasksRunning", 0)
            if running == 2:
                break
            time.sleep(0.1)
        check("its tasks are launched again", running == 2, running)
        with urllib.request.urlopen(c2 + "/v1/kv/app/production/kept/LOG_LEVEL?raw", timeout=10) as r:
            check("the key survives a restart", r.read().decode() == "debug")
        check("SIGTERM exits 0 again", stop(p2) == 0)

        bad = subprocess.run([SANDBOX, "--tasks", "docker"], capture_output=True, text=True, timeout=10)
        check("a bad --tasks value is refused", bad.returncode == 1 and "--tasks must be" in bad.stderr, bad.stderr)
        for args, why in ((["--local-port-min", "20000", "--local-port-max", "20000"], "must be below"),
                          (["--local-port-min", "30000", "--local-port-max", "10000"], "must be below"),
                          (["--local-port-min", "0"], "1..65535"),
                          (["--local-port-max", "70000"], "1..65535"),
                          (["--local-port-min", "ten"], "needs a number")):
            bad = subprocess.run([SANDBOX, "--marathon-port", "0", "--consul-port", "0"] + args,
                                 capture_output=True, text=True, timeout=10)
            check(f"a bad port range {args} is refused", bad.returncode == 1 and why in bad.stderr, bad.stderr)
        with open(state, "w") as f:
            f.write("{not json")
        bad = subprocess.run([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--state", state],
                             capture_output=True, text=True, timeout=10)
        check("a corrupt state file is refused with a message", bad.returncode == 1 and "cannot restore" in bad.stderr,
              bad.stderr)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
