#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`galley serve` reliability figures (issue #13), against a real galley-sandbox on loopback.

    bench/serve_bench.py [--only flood,ha] [--apps 200] [--build DIR]

flood: `galley serve --git-url` on a local bare remote, staging `sync: auto`. Ten commits are
       pushed one a second while 1,000 signed GitHub push deliveries arrive over 10 s (each
       naming the newest commit pushed so far; the last commit changes staging's instance
       count). Targets: every delivery accepted (202), at most 2 reconciles for the whole
       burst, the last at the newest commit, which is deployed. Then 1,000 forged or malformed
       deliveries (bad signature, no signature, an unknown event, malformed JSON, a body over
       the size limit): 100 % refused, no reconcile, server RSS flat (< 5 MB growth).
ha:    two `galley serve` (leader TTL 10 s) against one sandbox, a generated repository of
       --apps apps (bench/gen_repo.py, every environment `sync: auto`), tasks turning healthy
       after 1 s so the apply takes a while. The leader is killed with SIGKILL when about a
       third of the apps are deployed. Targets: the standby leads within 20 s, the platform
       converges (every app at its desired instance count, healthy, the plan empty), and no app
       was deployed twice (each app has exactly one version in Marathon).
Exit 0 PASS, 1 FAIL, 2 error."""
import argparse
import concurrent.futures
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SECRET = "bench-webhook-secret"
failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def setup(build):
    bindir = os.path.join(build, "bin")
    sys.argv = [sys.argv[0], os.path.join(bindir, "galley"), os.path.join(bindir, "galley-sandbox"), ROOT]
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import test_apply_cli as t  # noqa: E402  (reads sys.argv)
    import test_serve_cli as ts  # noqa: E402
    return t, ts


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def deliver(url, body, headers):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0


def github_headers(body, delivery, secret=SECRET, event="push"):
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig}


def flood(t, ts, work, settle):
    print("--- flood: 1,000 valid deliveries in 10 s, then 1,000 forged or malformed", flush=True)
    sb = t.Sandbox(work, "sandbox-flood", "--health-delay", t.FAST_HEALTH_MS)
    repo = t.Repo(work, "repo-flood", git=True)
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
              'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging auto")
    bare = os.path.join(work, "remote-flood.git")
    subprocess.run(["git", "init", "-q", "--bare", bare], check=True, timeout=30)
    repo.git("push", "-q", bare, "HEAD:refs/heads/main")
    g = t.Galley(sb, work, "state-flood.db")
    extra = ["--push-settle", settle] if settle else []
    s = ts.Serve(g, "--git-url", bare, "--branch", "main", *extra, webhook_secret=SECRET)
    s.wait_reconciles(1, timeout=60)
    base = len(s.reconciles())
    hook = s.url + "/hooks/github"
    commits = []
    for i in range(10):
        if i == 9:
            commits.append(repo.edit("services/test-server.yaml", "instances: 1\n", "instances: 2\n", "staging: 2"))
        else:
            commits.append(repo.commit(f"flood commit {i}"))
    statuses = []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for second in range(10):
            repo.git("push", "-q", bare, f"{commits[second]}:refs/heads/main")
            for k in range(100):
                n = second * 100 + k
                body = json.dumps({"ref": "refs/heads/main", "after": commits[second],
                                   "repository": {"full_name": "ops/platform"}}).encode()
                futures.append(pool.submit(deliver, hook, body, github_headers(body, f"flood-{n}")))
                due = t0 + second + (k + 1) / 100.0
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        statuses = [f.result() for f in futures]
    sent_secs = time.monotonic() - t0
    accepted = sum(1 for x in statuses if x == 202)
    # Settled: 2 s after the last push, plus the reconcile; then nothing more for a while.
    t.wait_until("the burst's reconcile", lambda: len(s.reconciles()) > base or None, 60, 0.1)
    last_count, quiet_since = len(s.reconciles()), time.monotonic()
    while time.monotonic() - quiet_since < 6:
        time.sleep(0.2)
        if len(s.reconciles()) != last_count:
            last_count, quiet_since = len(s.reconciles()), time.monotonic()
    burst = s.reconciles()[base:]
    app = sb.app("/app/staging/test-server")
    print(f"measure flood: 1,000 deliveries sent in {sent_secs:.1f} s; {accepted} accepted (202); "
          f"{len(burst)} reconcile(s) for the burst; last at {burst[-1].get('commit', '')[:12] if burst else '-'} "
          f"(newest {commits[-1][:12]})", flush=True)
    check(accepted == 1000, f"flood: every valid delivery accepted ({accepted}/1000; statuses "
                            f"{sorted(set(statuses))})")
    check(1 <= len(burst) <= 2, f"flood: at most 2 reconciles for the burst ({len(burst)})")
    check(bool(burst) and burst[-1].get("commit") == commits[-1], "flood: the last reconcile is at the newest commit")
    check(bool(app) and app["instances"] == 2, "flood: the newest commit is deployed (staging test-server: 2)")

    # 1,000 forged or malformed deliveries.
    before_rss = rss_kb(s.proc.pid)
    base = len(s.reconciles())
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    refused, codes = 0, {}
    t1 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for n in range(1000):
            body = json.dumps({"ref": "refs/heads/main", "after": commits[-1],
                               "repository": {"full_name": "ops/platform"}}).encode()
            kind = n % 5
            if kind == 0:
                headers = github_headers(body, f"forged-{n}", secret="wrong-secret")
            elif kind == 1:
                headers = github_headers(body, f"unsigned-{n}")
                del headers["X-Hub-Signature-256"]
            elif kind == 2:
                headers = github_headers(body, f"unknown-{n}", event="gollum-" + str(n))
            elif kind == 3:
                body = b'{"ref": "refs/heads/main", "after": ' + str(n).encode()
                headers = github_headers(body, f"malformed-{n}")
            else:
                body = big if n % 50 == 4 else body + b"x" * 10
                headers = github_headers(body, f"big-{n}", secret="wrong-secret")
            futures.append(pool.submit(deliver, hook, body, headers))
        for f in futures:
            code = f.result()
            codes[code] = codes.get(code, 0) + 1
            if code in (0, 400, 401, 403, 404, 409, 413, 415, 422):
                refused += 1
    forged_secs = time.monotonic() - t1
    time.sleep(3)  # longer than the push settle time: a wrongly accepted push would reconcile
    after_rss = rss_kb(s.proc.pid)
    after = len(s.reconciles()) - base
    print(f"measure flood: 1,000 forged/malformed in {forged_secs:.1f} s: refused {refused} ({codes}); "
          f"RSS {before_rss / 1024:.1f} -> {after_rss / 1024:.1f} MB; reconciles {after}", flush=True)
    check(refused == 1000 and 202 not in codes and 0 not in codes, "flood: 100 % of forged/malformed refused")
    check(after == 0, "flood: no reconcile from a refused delivery")
    check(after_rss - before_rss < 5 * 1024, "flood: server RSS flat (< 5 MB growth)")
    s.stop()
    sb.stop()


def ha(t, ts, work, apps):
    print(f"--- ha: kill -9 of the leader during an apply of {apps} apps", flush=True)
    services = max(1, apps // 2)
    repo_dir = os.path.join(work, "repo-ha")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo_dir, "--services", str(services),
                    "--environments", "2"], check=True, stdout=subprocess.DEVNULL, timeout=120)
    sys.path.insert(0, HERE)
    import apply_bench  # noqa: E402
    apply_bench.unpause(repo_dir)
    text = open(os.path.join(repo_dir, "galley.yaml")).read()
    text = text.replace('production: {port_prefix: "", host_prefix: ""}',
                        'production: {port_prefix: "", host_prefix: "", sync: auto}')
    text = text.replace('staging: {port_prefix: "1", host_prefix: "staging-"}',
                        'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}')
    open(os.path.join(repo_dir, "galley.yaml"), "w").write(text)
    subprocess.run(["git", "init", "-q"], cwd=repo_dir, check=True, timeout=30)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "add", "-A"],
                   cwd=repo_dir, check=True, timeout=30)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c",
                    "commit.gpgsign=false", "commit", "-q", "-m", "bench platform"], cwd=repo_dir, check=True,
                   timeout=30)
    secrets = apply_bench.secret_env(repo_dir)

    sb = t.Sandbox(work, "sandbox-ha", "--health-delay", "1000")
    g1 = t.Galley(sb, work, "state-ha1.db", user="one")
    g2 = t.Galley(sb, work, "state-ha2.db", user="two")
    for g in (g1, g2):
        g.env.update(secrets)
    s1 = ts.Serve(g1, repo_dir, name="serve-1")
    s2 = ts.Serve(g2, repo_dir, name="serve-2")

    def leaders():
        return ts.leading(s1, s2)

    t.wait_until("a leader", lambda: leaders() or None, 60, 0.2)
    leader = leaders()[0]
    other = s2 if leader is s1 else s1

    def deployed():
        return [a for a in sb.apps().values() if a.get("tasksHealthy", 0) >= a["instances"]]

    target = apps // 3
    t.wait_until(f"{target} apps deployed", lambda: len(deployed()) >= target or None, 300, 0.2)
    at_kill = len(sb.apps())
    os.killpg(leader.proc.pid, signal.SIGKILL)
    leader.proc.wait(timeout=10)
    t0 = time.monotonic()
    t.wait_until("the standby to lead", lambda: other in leaders() or None, 60, 0.2)
    takeover = time.monotonic() - t0

    def converged():
        live = sb.apps()
        if len(live) < apps or sb.deployments():
            return None
        if any(a.get("tasksHealthy", 0) < a["instances"] or a["tasksRunning"] != a["instances"]
               for a in live.values()):
            return None
        return True

    t.wait_until("the platform to converge", converged, 600, 0.5)
    converge = time.monotonic() - t0
    twice = []
    for app_id in sorted(sb.apps()):
        v = t.get_json(sb.m + "/v2/apps" + app_id + "/versions")["versions"]
        if len(v) != 1:
            twice.append((app_id, len(v)))
    plan = g2.run("plan", repo_dir, "--detailed-exitcode", timeout=300, env=dict(g2.env, **secrets))
    print(f"measure ha: {at_kill} of {apps} apps existed when the leader was killed; standby led after "
          f"{takeover:.1f} s; converged {converge:.1f} s after the kill; apps deployed more than once: "
          f"{len(twice)}", flush=True)
    check(takeover <= 20.0, f"ha: the standby leads within 20 s ({takeover:.1f} s)")
    check(converge < 600, "ha: the platform converged")
    check(not twice, f"ha: no app deployed twice ({twice[:5]})")
    check(plan.returncode == 0, f"ha: the plan after convergence is empty (exit {plan.returncode}: "
                                f"{plan.stdout[-400:]}{plan.stderr[-400:]})")
    other.stop()
    sb.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="flood,ha")
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--push-settle", default="", help="passed to galley serve (e.g. 0 to compare)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    try:
        t, ts = setup(os.path.abspath(a.build))
    except Exception as e:  # noqa: BLE001
        print(f"serve_bench: {e}", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="galley-serve-bench-")
    try:
        parts = a.only.split(",")
        if "flood" in parts:
            flood(t, ts, work, a.push_settle)
        if "ha" in parts:
            ha(t, ts, work, a.apps)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print(f"serve_bench: error: {e}", file=sys.stderr)
        return 2
    finally:
        for p in t.procs:
            t.stop_process(p, 10)
        if os.environ.get("GALLEY_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("serve_bench: " + ("PASS" if not failures else f"FAIL ({len(failures)})"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
