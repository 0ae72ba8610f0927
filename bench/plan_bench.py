#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`galley plan` at scale (issue #4): SERVICES x ENVIRONMENTS in galley-sandbox (simulated
tasks), everything live as rendered, then the plan timed: median wall, peak RSS (from the
kernel's accounting of the finished child), and the number of HTTP requests the plan made
(from --json "observed.requests"), which must not grow with the number of services.

Usage: plan_bench.py --galley build/bin/galley --sandbox build/bin/galley-sandbox
                     [--services 2000] [--environments 3] [--runs 5] [--apply]
                     [--compare OTHER_GALLEY] [--drift]
Stdlib only. Loads the platform by applying galley's own plan by hand (PUT /v2/apps in
batches under the deployment cap, KV through /v1/txn in batches), so the live state is
exactly what galley would deploy; with --apply, through `galley apply --auto-approve`
instead (timed, with its peak RSS), which also writes galley's applied records to Consul:
the plan then reads them, as every real plan does. --compare OTHER_GALLEY times a second
binary on the same loaded platform, runs alternating (A/B under the same machine load);
--drift times `galley drift` too. CPU time (user + sys) is printed next to the wall time:
on a loaded machine it is the steadier figure. Exit 0 when the targets hold (3 s, 300 MB,
constant request count), 1 when one is missed, 2 on an error."""
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


def timed(cmd, out_path, err_path, ok_codes=(0, 2)):
    """Runs cmd; returns (wall s, cpu s, peak RSS KiB) from this child's own accounting."""
    env = dict(os.environ, PROD_DATABASE_URL="postgres://bench", GALLEY_HMAC_KEY="bench-key")
    # The peak RSS comes from /usr/bin/time: a child forked from this (large) Python process
    # starts with its resident size in ru_maxrss, so wait4's figure would be Python's.
    rss_path = err_path + ".rss"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rss_path, *cmd], stdout=out, stderr=err,
                             env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    maxrss = int(open(rss_path).read().split()[-1])
    if code not in ok_codes:
        sys.stderr.write(f"{cmd[:2]} exited {code}:\n" + open(out_path).read()[-2000:] + open(err_path).read()[-2000:])
        raise SystemExit(2)
    return wall, usage.ru_utime + usage.ru_stime, maxrss


def run_plan(galley, repo, m, c, state, extra=(), cpu=None):
    cmd = [galley, "plan", repo, "--marathon", m, "--consul", c, "--state", state, "--json", *extra]
    out_path = state + ".plan-out"
    wall, cpu_s, peak = timed(cmd, out_path, state + ".plan-err")
    if cpu is not None:
        cpu.append(cpu_s)
    return wall, peak, json.load(open(out_path))


def run_drift(galley, repo, m, c, state):
    cmd = [galley, "drift", repo, "--marathon", m, "--consul", c, "--state", state, "--json"]
    return timed(cmd, state + ".drift-out", state + ".drift-err", ok_codes=(0, 2))


def stats(vals, unit, digits=2):
    return (f"median {statistics.median(vals):.{digits}f} {unit} (min {min(vals):.{digits}f}, "
            f"max {max(vals):.{digits}f})")


def load_by_hand(ports, apps, kvs, secrets):
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


def record_sizes(ports):
    """The applied records galley wrote to Consul, and what the two ways issue #14 names to
    shrink them would make of them: a digest in place of the app body, or the document
    compressed (zlib, level 6; Consul stores bytes, its JSON API carries them as base64)."""
    import hashlib
    import zlib
    cc = http.client.HTTPConnection("127.0.0.1", ports["consul_port"], timeout=120)
    status, body = call(cc, "GET", "/v1/kv/galley/?recurse")
    entries = [e for e in json.loads(body) if "/applied/" in e["Key"]]
    docs = [base64.b64decode(e["Value"] or "") for e in entries]
    raw = sum(len(d) for d in docs)
    listing = sum(len(e["Value"] or "") for e in entries)
    zipped = [zlib.compress(d, 6) for d in docs]
    digest_docs = []
    for d in docs:
        rec = json.loads(d)
        if "app" in rec:
            app = rec.pop("app")
            rec["app_digest"] = "sha256:" + hashlib.sha256(json.dumps(app, sort_keys=True).encode()).hexdigest()
        digest_docs.append(json.dumps(rec, separators=(",", ":")).encode())
    t0 = time.monotonic()
    for z in zipped:
        json.loads(zlib.decompress(z))
    inflate_parse = time.monotonic() - t0
    t0 = time.monotonic()
    for d in docs:
        json.loads(d)
    parse = time.monotonic() - t0
    mb = 1024 * 1024
    print(f"applied records: {len(docs)} documents, {raw / mb:.1f} MB of JSON, {listing / mb:.1f} MB as base64 "
          f"in the listing")
    print(f"  compressed (zlib 6): {sum(len(z) for z in zipped) / mb:.1f} MB, "
          f"{sum(len(base64.b64encode(z)) for z in zipped) / mb:.1f} MB as base64; "
          f"python inflate+parse {inflate_parse:.2f} s vs parse {parse:.2f} s")
    print(f"  app body as a digest: {sum(len(d) for d in digest_docs) / mb:.1f} MB, "
          f"{sum(len(base64.b64encode(d)) for d in digest_docs) / mb:.1f} MB as base64")


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
    ap.add_argument("--apply", action="store_true", help="load the platform with `galley apply` (applied records)")
    ap.add_argument("--compare", help="a second galley binary, timed alternately on the same platform")
    ap.add_argument("--drift", action="store_true", help="time `galley drift` as well")
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

        empty_cpu = []
        empty_wall, empty_kb, empty = run_plan(a.galley, repo, m, c, state, cpu=empty_cpu)
        requests_empty = empty["observed"]["requests"]
        apps = [x["desired"] for x in empty["actions"] if x["kind"] == "app-create"]
        kvs = [x for x in empty["actions"] if x["kind"] == "kv-put"]
        compare_empty = None
        if a.compare:
            compare_cpu = []
            w, kb, _ = run_plan(a.compare, repo, m, c, state + ".compare", cpu=compare_cpu)
            compare_empty = (w, compare_cpu[0], kb)
        del empty["actions"]
        t0 = time.monotonic()
        if a.apply:
            try:
                wall, cpu_s, peak = timed([a.galley, "apply", repo, "--auto-approve", "--marathon", m, "--consul",
                                           c, "--state", state, "--concurrency", "100"], state + ".apply-out",
                                          state + ".apply-err", ok_codes=(0,))
                print(f"galley apply from empty: {wall:.1f} s wall, {cpu_s:.1f} s cpu, "
                      f"peak RSS {peak / 1024:.0f} MB")
            except SystemExit:
                # A partly failed apply (a deploy not healthy in time on a loaded machine): the
                # rest is loaded by hand, the records of what was applied stay.
                rss = open(state + ".apply-err.rss").read().split()[-1]
                print(f"galley apply failed (above; peak RSS {int(rss) / 1024:.0f} MB); loading the rest by hand")
                load_by_hand(ports, apps, kvs, secrets)
            record_sizes(ports)
        else:
            load_by_hand(ports, apps, kvs, secrets)
        tasks = sum(x["instances"] for x in apps)
        print(f"loaded {len(apps)} apps ({tasks} tasks) and {len(kvs)} keys in {time.monotonic() - t0:.1f} s")
        del apps, kvs

        binaries = [("galley", a.galley)] + ([("compare", a.compare)] if a.compare else [])
        walls = {n: [] for n, _ in binaries}
        cpus = {n: [] for n, _ in binaries}
        peaks = {n: [] for n, _ in binaries}
        last = None
        for _, b in binaries:
            run_plan(b, repo, m, c, state)  # warm-up
        for _ in range(a.runs):
            for n, b in binaries:
                wall, peak_kb, out = run_plan(b, repo, m, c, state, cpu=cpus[n])
                walls[n].append(wall)
                peaks[n].append(peak_kb / 1024)
                if n == "galley":
                    last = out
        changes = len(last["actions"])
        print(f"galley plan over {last['observed']['apps']} live apps and {last['observed']['keys']} keys: "
              f"{changes} changes (expected 0)")
        for n, b in binaries:
            print(f"  {n} ({b}): wall {stats(walls[n], 's')}; cpu {stats(cpus[n], 's')}; "
                  f"peak RSS {stats(peaks[n], 'MB', 0)}")
        if a.drift:
            for n, b in binaries:
                dw, dc, dp = [], [], []
                run_drift(b, repo, m, c, state)
                for _ in range(a.runs):
                    w, cpu_s, kb = run_drift(b, repo, m, c, state)
                    dw.append(w)
                    dc.append(cpu_s)
                    dp.append(kb / 1024)
                print(f"  drift {n}: wall {stats(dw, 's')}; cpu {stats(dc, 's')}; peak RSS {stats(dp, 'MB', 0)}")
        print(f"  HTTP requests per plan: {last['observed']['requests']} (empty platform: {requests_empty})")
        print(f"  the first plan (empty platform, {empty['summary']}): {empty_wall:.2f} s wall, "
              f"{empty_cpu[0]:.2f} s cpu, peak RSS {empty_kb / 1024:.0f} MB")
        if compare_empty:
            print(f"  ... compare: {compare_empty[0]:.2f} s wall, {compare_empty[1]:.2f} s cpu, "
                  f"peak RSS {compare_empty[2] / 1024:.0f} MB")
        walls, peaks = walls["galley"], peaks["galley"]
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
