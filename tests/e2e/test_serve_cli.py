#!/usr/bin/env python3
"""`galley serve` as users run it: the built galley against a real galley-sandbox on loopback.
Every process started is stopped at the end, every wait is bounded.

  A: serve from a directory (a clean Git work tree) with staging `sync: auto` and production
     `manual`: staging converges, production has a plan in /api/v1/plan and nothing applied;
     POST /api/v1/reconcile without a token is 401; POST /api/v1/apply with a wrong id is 409,
     with the plan's id applies production; SIGTERM exits 0.
  B: serve from a local bare Git remote (--git-url): a new commit pushed + POST
     /api/v1/reconcile deploys it; a signed GitHub push delivery deploys the next one (a replay
     is 409, a forged signature 401).
  C: two servers against one sandbox: one leader; kill -9 it, the other takes over within ~20 s
     (the leader's session TTL is 10 s; Consul invalidates a session up to 2 × TTL after it).
  D: SIGTERM while serve applies: exit 0, the run interrupted and journaled, the lock released
     (the next `galley apply` settles it at once).

Usage: test_serve_cli.py GALLEY GALLEY_SANDBOX SOURCE_ROOT"""
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_apply_cli as t  # noqa: E402  (reads the same argv)

TOKEN = "e2e-serve-token"


class Serve:
    """One `galley serve` on a free loopback port; its stderr (the log) collected."""

    def __init__(self, g, *args, token=TOKEN, name="serve", webhook_secret=None):
        env = dict(g.env, GALLEY_API_TOKEN=token)
        if webhook_secret:
            env["GALLEY_WEBHOOK_SECRET"] = webhook_secret
        hooks = [] if webhook_secret else ["--no-webhooks"]
        argv = [t.GALLEY, "serve", *args, "--listen", "127.0.0.1:0", "--interval", "0", *hooks,
                "--log-format", "json", "--state", g.state]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, env=env, start_new_session=True)
        t.procs.append(self.proc)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

        def port():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited {self.proc.returncode}: {self.log()[-2000:]}")
            for line in self.logs():
                if line.get("msg") == "listening":
                    return line["port"]
            return None

        self.port = t.wait_until(f"{name} listening", port, 30)
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line)

    def log(self):
        with self.lock:
            return "".join(self.lines)

    def logs(self):
        out = []
        with self.lock:
            for line in self.lines:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def get(self, path):
        return t.http("GET", self.url + path)

    def post(self, path, body=None, token=TOKEN):
        import urllib.request
        import urllib.error
        data = json.dumps(body if body is not None else {}).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def reconciles(self, leader_only=True):
        """The reconciles logged so far; by default those run as the leader (a server plans as a
        follower until it leads)."""
        return [line for line in self.logs() if str(line.get("msg", "")).startswith("reconcile ") and "outcome" in line
                and (line.get("leader") or not leader_only)]

    def wait_reconciles(self, n, timeout=60, leader_only=True):
        return t.wait_until(f"{n} reconcile(s)", lambda: len(self.reconciles(leader_only)) >= n or None, timeout, 0.1)

    def stop(self):
        t.stop_process(self.proc, 30)
        return self.proc.returncode


HOOK_SECRET = "e2e-webhook-secret"


def hook(s, provider, body, headers):
    import urllib.request
    import urllib.error
    req = urllib.request.Request(s.url + "/hooks/" + provider, data=body.encode(), method="POST",
                                 headers=dict(headers, **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def app_ids(sb, env):
    return sorted(i for i in sb.apps() if f"/{env}/" in i)


def group_a(work):
    sb = t.Sandbox(work, "sandbox-a", "--health-delay", t.FAST_HEALTH_MS)
    repo = t.Repo(work, "repo-a", git=True)
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
              'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging syncs automatically")
    g = t.Galley(sb, work, "state-a.db")
    s = Serve(g, repo.dir)
    t0 = time.monotonic()
    s.wait_reconciles(1)
    took = time.monotonic() - t0
    rec = s.reconciles()[0]
    t.check("A serve's first reconcile applied staging", rec.get("result", {}).get("apply", {}).get("outcome") ==
            "applied", rec)
    t.check("A staging converged, production untouched",
            app_ids(sb, "staging") and not app_ids(sb, "production"), sorted(sb.apps()))
    status, text = s.get("/api/v1/plan")
    plan = json.loads(text) if status == 200 else {}
    prod_actions = [a for a in plan.get("actions", []) if "/production/" in a.get("id", "")]
    t.check("A /api/v1/plan holds production's plan, with an id", status == 200 and prod_actions and plan.get("plan_id"),
            text[:500])
    t.check("A the plan has no staging action",
            not [a for a in plan.get("actions", []) if "/staging/" in a.get("id", "")], text[:500])
    code, text = s.get("/healthz")
    t.check("A /healthz 200", code == 200, text)
    code, text = s.get("/readyz")
    t.check("A /readyz 200 (loaded, Consul reachable)", code == 200, text)
    code, text = s.get("/api/v1/status")
    counts = json.loads(text).get("counts", {}) if code == 200 else {}
    t.check("A /api/v1/status: staging in sync, production pending",
            counts.get("in sync") == 4 and counts.get("pending") == 4, text[:300])
    code, text = s.get("/api/v1/drift")
    t.check("A /api/v1/drift answers", code == 200, text[:300])
    code, text = s.get("/api/v1/runs")
    runs = json.loads(text).get("runs", []) if code == 200 else []
    t.check("A /api/v1/runs lists the store's runs", code == 200 and any(r["kind"] == "apply" for r in runs), text[:300])
    apply_run = next((r for r in runs if r["kind"] == "apply"), None)
    if apply_run:
        code, text = s.get(f"/api/v1/runs/{apply_run['id']}")
        t.check("A /api/v1/runs/<id> has the journal", code == 200 and json.loads(text).get("journal"), text[:300])
    code, text = s.post("/api/v1/reconcile", token=None)
    t.check("A POST /api/v1/reconcile without a token: 401", code == 401, f"{code} {text}")
    code, text = s.post("/api/v1/reconcile", token="wrong")
    t.check("A ... with a wrong token: 403", code == 403, f"{code} {text}")
    code, text = s.post("/api/v1/apply", {"plan_id": "sha256:stale"})
    t.check("A POST /api/v1/apply with a stale id: 409", code == 409, f"{code} {text}")
    t.check("A ... nothing applied to production", not app_ids(sb, "production"), sorted(sb.apps()))
    # The platform moves after the plan was shown: the same id is now stale (409), and the
    # worker plans again.
    kv_key = next((a["id"][3:] for a in prod_actions if a["id"].startswith("kv:")), None)
    n = len(s.reconciles())
    sb.kv_put_by_hand(kv_key, "changed-by-hand")
    code, text = s.post("/api/v1/apply", {"plan_id": plan.get("plan_id")})
    t.check("A a plan the platform moved under: 409 stale", code == 409 and
            json.loads(text).get("outcome") == "stale-plan", f"{code} {text[:500]}")
    t.check("A ... nothing applied to production", not app_ids(sb, "production"), sorted(sb.apps()))
    s.wait_reconciles(n + 1)
    status, text = s.get("/api/v1/plan")
    plan2 = json.loads(text) if status == 200 else {}
    t.check("A a new plan after the stale one", plan2.get("plan_id") not in (None, plan.get("plan_id")), text[:300])
    plan = plan2
    t1 = time.monotonic()
    code, text = s.post("/api/v1/apply", {"plan_id": plan.get("plan_id")})
    apply_secs = time.monotonic() - t1
    t.check("A POST /api/v1/apply with the plan's id applies it", code == 200 and
            json.loads(text).get("outcome") == "applied", f"{code} {text[:500]}")
    t.check("A production now deployed", app_ids(sb, "production"), sorted(sb.apps()))
    code, text = s.post("/api/v1/apply", {"plan_id": plan.get("plan_id")})
    t.check("A the same plan again: 409", code == 409, f"{code} {text[:300]}")
    rc = s.stop()
    t.check("A SIGTERM: exit 0", rc == 0, s.log()[-1500:])
    print(f"measure A: first reconcile (load, apply staging, plan) {took:.1f} s; manual apply {apply_secs:.1f} s")
    sb.stop()


def group_b(work):
    sb = t.Sandbox(work, "sandbox-b", "--health-delay", t.FAST_HEALTH_MS)
    repo = t.Repo(work, "repo-b", git=True)
    repo.edit("galley.yaml", 'production: {port_prefix: "", host_prefix: ""}',
              'production: {port_prefix: "", host_prefix: "", sync: auto}', "production auto")
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
              'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging auto")
    bare = os.path.join(work, "remote-b.git")
    subprocess.run(["git", "init", "-q", "--bare", bare], check=True, timeout=30)
    repo.git("push", "-q", bare, "HEAD:refs/heads/main")
    g = t.Galley(sb, work, "state-b.db")
    s = Serve(g, "--git-url", bare, "--branch", "main", webhook_secret=HOOK_SECRET)
    s.wait_reconciles(1)
    first = s.reconciles()[0]
    t.check("B serve from a Git remote: first reconcile applied", first.get("result", {}).get("apply", {}).get(
        "outcome") == "applied", first)
    before = sb.app("/app/staging/test-server")
    commit = repo.edit("services/test-server.yaml", "instances: 1\n", "instances: 2\n", "staging test-server: 2")
    repo.git("push", "-q", bare, "HEAD:refs/heads/main")
    n = len(s.reconciles())
    code, text = s.post("/api/v1/reconcile")
    t.check("B POST /api/v1/reconcile: 202", code == 202, f"{code} {text}")
    s.wait_reconciles(n + 1)
    last = s.reconciles()[-1]
    t.check("B the new commit was reconciled", last.get("commit") == commit, last)
    app = sb.app("/app/staging/test-server")
    t.check("B ... and deployed (1 → 2 instances)", before and before["instances"] == 1 and app and
            app["instances"] == 2, app and app["instances"])
    # A signed GitHub push delivery of the next commit: reconciled and deployed; the same
    # delivery again is a replay (409), a forged one 401.
    commit = repo.edit("services/test-server.yaml", "instances: 2\n", "instances: 3\n", "staging test-server: 3")
    repo.git("push", "-q", bare, "HEAD:refs/heads/main")
    body = json.dumps({"ref": "refs/heads/main", "after": commit, "repository": {"full_name": "ops/platform"}})
    sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sig}
    n = len(s.reconciles())
    code, text = hook(s, "github", body, headers)
    t.check("B a signed GitHub push: 202 accepted", code == 202 and "accepted" in text, f"{code} {text}")
    s.wait_reconciles(n + 1)
    last = s.reconciles()[-1]
    app = sb.app("/app/staging/test-server")
    t.check("B ... its commit reconciled and deployed (3 instances)", last.get("commit") == commit and app and
            app["instances"] == 3, (last.get("commit"), app and app["instances"]))
    code, text = hook(s, "github", body, headers)
    t.check("B the same delivery again: 409 replay", code == 409, f"{code} {text}")
    code, text = hook(s, "github", body, dict(headers, **{"X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": "sha256=" + "0" * 64}))
    t.check("B a forged signature: 401", code == 401, f"{code} {text}")
    s.stop()
    sb.stop()


def group_c(work):
    sb = t.Sandbox(work, "sandbox-c", "--health-delay", t.FAST_HEALTH_MS)
    repo = t.Repo(work, "repo-c", git=True)
    g1 = t.Galley(sb, work, "state-c1.db", user="one")
    g2 = t.Galley(sb, work, "state-c2.db", user="two")
    s1 = Serve(g1, repo.dir, name="serve-1")
    s2 = Serve(g2, repo.dir, name="serve-2")

    def leaders():
        out = []
        for s in (s1, s2):
            if s.proc.poll() is None:
                code, text = s.get("/api/v1/leader")
                if code == 200 and json.loads(text)["leader"]:
                    out.append(s)
        return out

    t.wait_until("a leader", lambda: leaders() or None, 30, 0.2)
    time.sleep(1)  # the other keeps trying; it must not become leader too
    ls = leaders()
    t.check("C exactly one leader of two", len(ls) == 1, len(ls))
    if len(ls) != 1:
        s1.stop()
        s2.stop()
        sb.stop()
        return
    leader = ls[0]
    other = s2 if leader is s1 else s1
    other.wait_reconciles(1, leader_only=False)
    code, text = other.get("/api/v1/status")
    t.check("C the standby serves the API read-only (status 200)", code == 200, f"{code} {text[:300]}")
    code, text = other.post("/api/v1/apply", {"plan_id": "x"})
    t.check("C ... and refuses to apply (503, not the leader)", code == 503, f"{code} {text[:300]}")
    os.killpg(leader.proc.pid, signal.SIGKILL)
    leader.proc.wait(timeout=10)
    t0 = time.monotonic()
    t.wait_until("the other server to lead", lambda: other in leaders() or None, 40, 0.2)
    took = time.monotonic() - t0
    # Consul invalidates a session up to 2 × TTL after its last renewal (the sandbox: exactly
    # then); the leader's TTL is 10 s, and the standby looks every 250 ms.
    t.check("C the standby took over within ~20 s", took <= 23, f"{took:.1f} s")
    print(f"measure C: takeover after kill -9 of the leader {took:.1f} s (leader session TTL 10 s)")
    t.check("C the standby stops with exit 0", other.stop() == 0, other.log()[-1500:])
    sb.stop()


def group_d(work):
    sb = t.Sandbox(work, "sandbox-d", "--health-delay", t.SLOW_HEALTH_MS)
    repo = t.Repo(work, "repo-d", git=True)
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
              'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging auto")
    g = t.Galley(sb, work, "state-d.db")
    s = Serve(g, repo.dir)
    t.wait_until("staging deployments under way", lambda: sb.deployments() or None, 30, 0.1)
    t0 = time.monotonic()
    rc = s.stop()
    took = time.monotonic() - t0
    t.check("D SIGTERM during an apply: exit 0, promptly", rc == 0 and took < 10, f"exit {rc} after {took:.1f} s")
    run = g.last_run()
    t.check("D ... the apply run is recorded as interrupted", run.get("outcome") == "interrupted", run)
    # The platform lock and the leader key were released: the next apply needs no lock break,
    # and settles what the interrupted run left started.
    r = g.run("apply", repo.dir, "--auto-approve", "--env", "staging")
    t.check("D the next apply exits 0 at once and settles the interrupted actions",
            r.returncode == 0 and "recovered:" in r.stdout, f"exit {r.returncode}: {r.stderr}{r.stdout[-1200:]}")
    t.check("D the leader key was released", not sb.kv("galley/reference/leader") or
            "Session" not in (t.http("GET", sb.c + "/v1/kv/galley/reference/leader")[1]), sb.kv("galley/reference/leader"))
    print(f"measure D: SIGTERM to exit during an apply {took:.1f} s")
    sb.stop()


def main():
    work = tempfile.mkdtemp(prefix="galley-serve-cli-")
    only = os.environ.get("GALLEY_E2E_ONLY", "")
    try:
        for name, fn in (("A: directory, sync auto/manual, API", group_a),
                         ("B: Git remote", group_b),
                         ("C: two servers, leader killed", group_c),
                         ("D: SIGTERM during an apply", group_d)):
            if only and name[0] not in only:
                continue
            t0 = time.monotonic()
            print(f"--- {name}", flush=True)
            try:
                fn(work)
            except Exception as e:
                traceback.print_exc()
                t.check(f"{name} ran to the end", False, f"{type(e).__name__}: {e}")
            print(f"time {time.monotonic() - t0:5.1f} s  {name}", flush=True)
    finally:
        for p in t.procs:
            t.stop_process(p, 10)
        if os.environ.get("GALLEY_E2E_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = sum(t.results)
    print(f"{passed} passed, {len(t.results) - passed} failed")
    return 0 if t.results and passed == len(t.results) else 1


if __name__ == "__main__":
    sys.exit(main())
