#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`galley plan` at scale (issue #4): SERVICES x ENVIRONMENTS in galley-sandbox (simulated
tasks), everything live as rendered, then the plan timed: median wall, peak RSS (from the
kernel's accounting of the finished child), and the number of HTTP requests the plan made
(from --json "observed.requests"), which must not grow with the number of services.

Usage: plan_bench.py --galley build/bin/galley --sandbox build/bin/galley-sandbox
                     [--services 2000] [--environments 3] [--runs 5]
Stdlib only. Loads the platform by applying galley's own plan by hand (PUT /v2/apps in
batches under the deployment cap, KV through /v1/txn in batches), so the live state is
exactly what galley would deploy. Exit 0 when the targets hold (3 s, 300 MB, constant
request count), 1 when one is missed, 2 on an error."""
import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def call(conn, method, path, body=None, raw=False):
    data = body if raw else (json.dumps(body) if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def run_plan(galley, repo, m, c, state, extra=()):
    env = dict(os.environ, PROD_DATABASE_URL="postgres://bench", GALLEY_HMAC_KEY="bench-key")
    cmd = [galley, "plan", repo, "--marathon", m, "--consul", c, "--state", state, "--json", *extra]
    out_path = state + ".plan-out"
    with open(out_path, "w") as out, open(state + ".plan-err", "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)  # this child's own accounting
        wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        sys.stderr.write(open(state + ".plan-err").read())
        raise SystemExit(2)
    return wall, usage.ru_maxrss, json.load(open(out_path))


def secret_env(repo):
    # gen_repo.py's secret_env sources: provide every one so the plan can compare them.
    names = set()
    for root, _, files in os.walk(os.path.join(repo, "services")):
        for f in files:
            for line in open(os.path.join(root, f)):
                if "secret_env:" in line:
                    names.add(line.split("secret_env:")[1].strip().strip("}").strip())
    return {n: "bench-" + n.lower() for n in names}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--galley", required=True)
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--environments", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-wall", type=float, default=3.0)
    ap.add_argument("--max-mb", type=float, default=300.0)
    ap.add_argument("--hold", type=int, default=0, help="keep the loaded sandbox up this many seconds (profiling)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="galley-plan-bench-")
    sandbox = None
    try:
        repo = os.path.join(work, "repo")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo, "--services", str(a.services),
                        "--environments", str(a.environments)], check=True, stdout=subprocess.DEVNULL)
        secrets = secret_env(repo)
        os.environ.update(secrets)
        ready = os.path.join(work, "ready.json")
        sandbox = subprocess.Popen([a.sandbox, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                                    "--health-delay", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        ports = json.load(open(ready))
        m, c = f"http://127.0.0.1:{ports['marathon_port']}", f"http://127.0.0.1:{ports['consul_port']}"
        state = os.path.join(work, "state.db")

        empty_wall, empty_kb, empty = run_plan(a.galley, repo, m, c, state)
        requests_empty = empty["observed"]["requests"]
        apps = [x["desired"] for x in empty["actions"] if x["kind"] == "app-create"]
        kvs = [x for x in empty["actions"] if x["kind"] == "kv-put"]
        t0 = time.monotonic()
        mc = http.client.HTTPConnection("127.0.0.1", ports["marathon_port"], timeout=120)
        for i in range(0, len(apps), 100):
            while True:
                status, body = call(mc, "PUT", "/v2/apps", apps[i:i + 100])
                if status == 200:
                    break
                if status in (403, 409):
                    time.sleep(0.2)
                    continue
                raise SystemExit(f"PUT /v2/apps: {status} {body[:200]}")
        cc = http.client.HTTPConnection("127.0.0.1", ports["consul_port"], timeout=120)
        for i in range(0, len(kvs), 64):
            ops = []
            for x in kvs[i:i + 64]:
                d = x["desired"]
                value = d["value"] if "value" in d else secrets.get(d["secret"].split(":", 1)[1], "")
                ops.append({"KV": {"Verb": "set", "Key": x["target"],
                                   "Value": base64.b64encode(value.encode()).decode()}})
            status, body = call(cc, "PUT", "/v1/txn", ops)
            if status != 200:
                raise SystemExit(f"txn: {status} {body[:200]}")
        while True:
            status, body = call(mc, "GET", "/v2/deployments")
            if status == 200 and json.loads(body) == []:
                break
            time.sleep(0.2)
        tasks = sum(x["instances"] for x in apps)
        print(f"loaded {len(apps)} apps ({tasks} tasks) and {len(kvs)} keys in {time.monotonic() - t0:.1f} s")

        walls, peaks = [], []
        last = None
        run_plan(a.galley, repo, m, c, state)  # warm-up
        for _ in range(a.runs):
            wall, peak_kb, last = run_plan(a.galley, repo, m, c, state)
            walls.append(wall)
            peaks.append(peak_kb / 1024)
        changes = len(last["actions"])
        print(f"galley plan over {last['observed']['apps']} live apps and {last['observed']['keys']} keys: "
              f"{changes} changes (expected 0)")
        print(f"  wall: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}), "
              f"peak RSS {max(peaks):.0f} MB")
        print(f"  HTTP requests per plan: {last['observed']['requests']} (empty platform: {requests_empty})")
        print(f"  for comparison, the first plan (empty platform, {len(empty['actions'])} actions): "
              f"{empty_wall:.2f} s, peak RSS {empty_kb / 1024:.0f} MB")
        ok = (statistics.median(walls) < a.max_wall and max(peaks) < a.max_mb and changes == 0 and
              last["observed"]["requests"] == requests_empty)
        print(("PASS" if ok else "FAIL") + f": plan median {statistics.median(walls):.2f} s < {a.max_wall} s, "
              f"peak {max(peaks):.0f} MB < {a.max_mb} MB, requests constant, no false changes")
        if a.hold:
            print(f"holding for {a.hold} s: galley plan {repo} --marathon {m} --consul {c} --state {state}", flush=True)
            time.sleep(a.hold)
        return 0 if ok else 1
    finally:
        if sandbox and sandbox.poll() is None:
            sandbox.send_signal(signal.SIGTERM)
            try:
                sandbox.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sandbox.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
