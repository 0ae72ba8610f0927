#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How fast `galley serve` sees a hand change (issue #13, "Benchmarks"): event-driven drift.

    serve_revert.py --galley build/bin/galley --sandbox build/bin/galley-sandbox
                    [--tries 10] [--target 5] [--json FILE] [--keep]

Against a fresh galley-sandbox (simulated tasks, health after 0.2 s) and `galley serve` of
the reference example (a Git work tree) with staging `sync: auto` (policy revert) and
production `sync: auto` with `policy: {drift: report}`, the timer off (`--interval 0`), so
only the drift watch (Marathon's event stream, Consul blocking queries) can notice:

  revert  a hand change to an app's instances (PUT /v2/apps/<id> to the Marathon emulator)
          and to a KV value (PUT /v1/kv/<key>) in staging: time until Marathon's app has its
          instances back / the key its value back.
  report  the same in production: time until the resource is listed in /api/v1/drift AND
          /metrics has galley_drift_resources{environment="production",kind=...} >= 1; then the
          change is undone by hand and the drift waited out before the next try.

Each is tried --tries times (the platform settled and 1 s quiet before each try, so no
reconcile is already under way when the change is made); the median is compared
with --target seconds (default 5). Flapping detection is set out of the way
(--flap-max-reverts 1000): the same app is reverted 10 times on purpose here.

Exit 0 when every median meets the target, 1 when one misses or a check failed, 2 on an error.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKEN = "bench-serve-token"


def http(method, url, body=None, timeout=10):
    data, headers = None, {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(what, pred, timeout, interval=0.02):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last: {str(last)[:300]})")


def stop(p, grace=20):
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                    "-c", "commit.gpgsign=false", "-C", repo, *args], check=True, capture_output=True, timeout=30)


def edit(path, old, new):
    text = open(path).read()
    if text.count(old) != 1:
        raise RuntimeError(f"{path}: expected one {old!r}")
    open(path, "w").write(text.replace(old, new))


class Lab:
    def __init__(self, args, work):
        self.procs = []
        ready = os.path.join(work, "ready.json")
        self.sb_log = open(os.path.join(work, "sandbox.log"), "wb")
        sb = subprocess.Popen([args.sandbox, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                               "--health-delay", "200"], stdout=self.sb_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(sb)

        def ports():
            try:
                return json.load(open(ready))
            except (OSError, ValueError):
                return None
        p = wait_until("the sandbox", ports, 15)
        self.m = f"http://127.0.0.1:{p['marathon_port']}"
        self.c = f"http://127.0.0.1:{p['consul_port']}"
        repo = os.path.join(work, "repo")
        shutil.copytree(os.path.join(ROOT, "examples", "reference"), repo)
        g = os.path.join(repo, "galley.yaml")
        edit(g, 'production: {port_prefix: "", host_prefix: ""}',
             'production: {port_prefix: "", host_prefix: "", sync: auto, policy: {drift: report}}')
        edit(g, 'staging: {port_prefix: "1", host_prefix: "staging-"}',
             'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}')
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bench")
        env = dict(os.environ, GALLEY_API_TOKEN=TOKEN, GALLEY_MARATHON_URL=self.m, GALLEY_CONSUL_URL=self.c,
                   PROD_DATABASE_URL="postgres://bench", XDG_STATE_HOME=os.path.join(work, "xdg"))
        for k in ("GALLEY_HMAC_KEY", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"):
            env.pop(k, None)
        self.lines = []
        self.serve = subprocess.Popen([args.galley, "serve", repo, "--listen", "127.0.0.1:0", "--interval", "0",
                                       "--no-webhooks", "--log-format", "json", "--flap-max-reverts", "1000",
                                       "--state", os.path.join(work, "state.db")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                      text=True, env=env, start_new_session=True)
        self.procs.append(self.serve)
        threading.Thread(target=self._read, daemon=True).start()

        def listening():
            if self.serve.poll() is not None:
                raise RuntimeError("galley serve exited: " + "".join(self.lines)[-1500:])
            for line in list(self.lines):
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("msg") == "listening":
                    return j["port"]
            return None
        self.url = f"http://127.0.0.1:{wait_until('serve listening', listening, 30)}"

        def first_reconcile():
            for line in list(self.lines):
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if str(j.get("msg", "")).startswith("reconcile ") and "outcome" in j and j.get("leader"):
                    return j
            return None
        rec = wait_until("the first reconcile", first_reconcile, 60)
        if rec.get("result", {}).get("apply", {}).get("outcome") != "applied":
            raise RuntimeError(f"first reconcile: {rec}")

    def _read(self):
        for line in self.serve.stderr:
            self.lines.append(line)

    def close(self):
        for p in reversed(self.procs):
            stop(p)
        self.sb_log.close()

    def app(self, app_id):
        s, t = http("GET", self.m + "/v2/apps" + app_id)
        return json.loads(t)["app"] if s == 200 else None

    def settled(self):
        s, t = http("GET", self.m + "/v2/deployments")
        if s != 200 or json.loads(t):
            return False
        s, t = http("GET", self.m + "/v2/apps")
        # An app without health checks is healthy when its tasks run (Marathon says 0 healthy).
        return all(a["tasksRunning"] == a["instances"] ==
                   (a["tasksHealthy"] if a.get("healthChecks") else a["tasksRunning"])
                   for a in json.loads(t)["apps"])

    def wait_settled(self):
        wait_until("the platform settled", self.settled, 30, 0.05)
        # Let the reconciles the last change caused finish (debounce + one reconcile), so a try
        # never starts with one already under way.
        time.sleep(1.0)

    def scale(self, app_id, n):
        s, t = http("PUT", self.m + "/v2/apps" + app_id, {"instances": n})
        if s != 200:
            raise RuntimeError(f"PUT {app_id}: {s} {t}")

    def kv(self, key):
        s, t = http("GET", self.c + "/v1/kv/" + key + "?raw")
        return t if s == 200 else None

    def kv_put(self, key, value):
        s, t = http("PUT", self.c + "/v1/kv/" + key, value)
        if s != 200:
            raise RuntimeError(f"PUT {key}: {s} {t}")

    def keys(self, prefix):
        s, t = http("GET", self.c + "/v1/kv/" + prefix + "?keys")
        return [k for k in json.loads(t) if not k.endswith("/")] if s == 200 else []

    def drifted(self, resource):
        s, t = http("GET", self.url + "/api/v1/drift")
        return s == 200 and any(d.get("resource") == resource for d in json.loads(t).get("drift", []))

    def metric(self, series):
        s, t = http("GET", self.url + "/metrics")
        for line in t.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0


def time_revert(lab, tries, change, repaired):
    out = []
    for i in range(tries):
        lab.wait_settled()
        t0 = time.monotonic()
        change(i)
        wait_until("the revert", repaired, 30)
        out.append(time.monotonic() - t0)
    return out


def time_report(lab, tries, change, undo, resource, series):
    out = []
    for i in range(tries):
        lab.wait_settled()
        t0 = time.monotonic()
        change(i)
        wait_until("the drift reported", lambda: lab.drifted(resource) and lab.metric(series) >= 1, 30)
        out.append(time.monotonic() - t0)
        lab.wait_settled()
        undo()
        wait_until("the drift gone", lambda: not lab.drifted(resource), 30)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--galley", default=os.path.join(ROOT, "build", "bin", "galley"))
    ap.add_argument("--sandbox", default=os.path.join(ROOT, "build", "bin", "galley-sandbox"))
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--target", type=float, default=5.0)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="galley-serve-revert-")
    lab = None
    try:
        lab = Lab(args, work)
        lab.wait_settled()
        sapp = "/app/staging/test-server"
        papp = "/app/production/test-server"
        s_inst = lab.app(sapp)["instances"]
        p_inst = lab.app(papp)["instances"]
        skey = lab.keys("app/staging/")[0]
        pkey = lab.keys("app/production/")[0]
        sval, pval = lab.kv(skey), lab.kv(pkey)
        results = {
            "revert app instances (staging)": time_revert(
                lab, args.tries, lambda i: lab.scale(sapp, s_inst + 1 + i % 2),
                lambda: lab.app(sapp)["instances"] == s_inst),
            "revert KV value (staging)": time_revert(
                lab, args.tries, lambda i: lab.kv_put(skey, f"by-hand-{i}"), lambda: lab.kv(skey) == sval),
            "report app instances (production)": time_report(
                lab, args.tries, lambda i: lab.scale(papp, p_inst + 1), lambda: lab.scale(papp, p_inst),
                "marathon-app:" + papp,
                'galley_drift_resources{environment="production",kind="marathon_app"}'),
            "report KV value (production)": time_report(
                lab, args.tries, lambda i: lab.kv_put(pkey, f"by-hand-{i}"), lambda: lab.kv_put(pkey, pval),
                "consul-kv:" + pkey, 'galley_drift_resources{environment="production",kind="consul_kv"}'),
        }
    except Exception as e:  # noqa: BLE001
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        if lab:
            print("".join(lab.lines)[-3000:], file=sys.stderr)
        return 2
    finally:
        if lab:
            lab.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    ok = True
    summary = {}
    print(f"{'case':38} {'tries':>5} {'min':>7} {'median':>7} {'max':>7}  target")
    for name, xs in results.items():
        med = statistics.median(xs)
        passed = med < args.target
        ok &= passed
        summary[name] = {"tries": len(xs), "min": min(xs), "median": med, "max": max(xs), "pass": passed}
        print(f"{name:38} {len(xs):5d} {min(xs):6.2f}s {med:6.2f}s {max(xs):6.2f}s  < {args.target:g} s "
              f"{'PASS' if passed else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
