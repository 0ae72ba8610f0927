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
  D: SIGTERM while serve applies: exit 0, the run interrupted and journaled, the lock released;
     the next leader settles it at once even on a manual-only platform (nothing applied), so
     the next `galley apply` has nothing left to settle.
  E: event-driven drift, metrics, notifications, flapping (staging `sync: auto` revert,
     production `sync: auto` with `policy: {drift: report}`): a hand scale and a hand KV write in
     staging are reverted within seconds, a hand KV write in production appears in
     /api/v1/drift and /metrics (`promtool check metrics` accepts it) and is notified, signed, to
     a receiver, to one that fails first (retried) and never blocked by one that hangs; a
     resource changed by hand again and again is left alone as flapping until
     POST /api/v1/flapping/clear.

The groups A-D run with --no-drift-watch (their reconcile counts stay deterministic); E runs
with it.

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

    def __init__(self, g, *args, token=TOKEN, name="serve", webhook_secret=None, drift=False, env=None):
        env = dict(g.env, GALLEY_API_TOKEN=token, **(env or {}))
        if webhook_secret:
            env["GALLEY_WEBHOOK_SECRET"] = webhook_secret
        hooks = [] if webhook_secret else ["--no-webhooks"]
        if not drift:
            hooks.append("--no-drift-watch")
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


def leading(*servers):
    """Those of `servers` still running whose /api/v1/leader says they lead."""
    out = []
    for s in servers:
        if s.proc.poll() is None:
            code, text = s.get("/api/v1/leader")
            if code == 200 and json.loads(text)["leader"]:
                out.append(s)
    return out


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
    code, text = s.get("/api/v1/services")
    services = json.loads(text).get("services", []) if code == 200 else []
    t.check("A /api/v1/services: 4 services, each with its 2 environments",
            len(services) == 4 and all(len(x["environments"]) == 2 for x in services), text[:300])
    code, text = s.get("/api/v1/services/test-server")
    one = json.loads(text) if code == 200 else {}
    t.check("A /api/v1/services/test-server: its rows and production's planned actions",
            [r["environment"] for r in one.get("environments", [])] == ["production", "staging"] and
            one.get("actions") and all(a.get("service") == "test-server" for a in one["actions"]), text[:500])
    code, text = s.get("/api/v1/services/no-such")
    t.check("A /api/v1/services/<unknown>: 404", code == 404, f"{code} {text[:200]}")
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
    r = g.run("serve", repo.dir, "--no-webhooks", "--notify-webhook", "http://127.0.0.1:9/n", timeout=30)
    t.check("A --notify-webhook without GALLEY_NOTIFY_SECRET: exit 1 naming it",
            r.returncode == 1 and "GALLEY_NOTIFY_SECRET" in r.stderr and "127.0.0.1:9" not in r.stderr,
            f"exit {r.returncode}: {r.stderr}")
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
    import urllib.request
    import urllib.error
    try:
        urllib.request.urlopen(s.url + "/hooks/github", timeout=10)
        code, allow = 200, ""
    except urllib.error.HTTPError as e:
        code, allow = e.code, e.headers.get("Allow", "")
    t.check("B GET on a hook: 405 with Allow: POST", code == 405 and allow == "POST", f"{code} {allow}")
    code, text = s.get("/metrics")
    t.check("B /metrics counts the deliveries by result",
            'galley_webhook_deliveries_total{provider="github",result="accepted"} 1' in text and
            'galley_webhook_deliveries_total{provider="github",result="bad_signature"} 1' in text and
            'galley_webhook_deliveries_total{provider="github",result="replay"} 1' in text, text[:3000])
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
        return leading(s1, s2)

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
    # The platform lock and the leader key were released. The next leader settles what the
    # interrupted run left started as soon as it leads, even when no environment is `sync:
    # auto` (nothing of the manual plan is applied); `galley apply` then has nothing to settle.
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}',
              'staging: {port_prefix: "1", host_prefix: "staging-"}', "staging manual again")
    s2 = Serve(g, repo.dir, name="serve-d2")
    s2.wait_reconciles(1, timeout=60)
    settled = [line for line in s2.logs() if str(line.get("msg", "")).startswith("settled ")]
    t.check("D a new leader of a manual-only platform settles the interrupted apply at once",
            settled and settled[0].get("recovered", 0) >= 1, settled or s2.log()[-1500:])
    s2.stop()
    r = g.run("apply", repo.dir, "--auto-approve", "--env", "staging")
    t.check("D the next apply exits 0 and has nothing left to settle",
            r.returncode == 0 and "recovered:" not in r.stdout, f"exit {r.returncode}: {r.stderr}{r.stdout[-1200:]}")
    t.check("D the leader key was released", not sb.kv("galley/reference/leader") or
            "Session" not in (t.http("GET", sb.c + "/v1/kv/galley/reference/leader")[1]), sb.kv("galley/reference/leader"))
    print(f"measure D: SIGTERM to exit during an apply {took:.1f} s")
    sb.stop()


NOTIFY_SECRET = "e2e-notify-secret"


class Receiver:
    """A loopback notification receiver: "ok" answers 200, "flaky" 503 first and then 200, "hang"
    never answers (until stopped). Records each request's event, body and whether its
    X-Galley-Signature verifies."""

    def __init__(self, mode):
        import http.server
        self.mode, self.requests, self.lock, self.stopping = mode, [], threading.Lock(), threading.Event()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                want = "sha256=" + hmac.new(NOTIFY_SECRET.encode(), body, hashlib.sha256).hexdigest()
                with rec.lock:
                    rec.requests.append({"event": self.headers.get("X-Galley-Event"), "body": body.decode(),
                                         "signed": hmac.compare_digest(want, self.headers.get("X-Galley-Signature", ""))})
                    n = len(rec.requests)
                if rec.mode == "hang":
                    rec.stopping.wait(30)
                    return
                status = 503 if rec.mode == "flaky" and n == 1 else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/notify"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def events(self, kind=None):
        with self.lock:
            return [r for r in self.requests if kind is None or r["event"] == kind]

    def stop(self):
        self.stopping.set()
        self.srv.shutdown()


def metric(text, name_and_labels):
    for line in text.splitlines():
        if line.startswith(name_and_labels + " "):
            return float(line.split()[-1])
    return None


def group_e(work):
    sb = t.Sandbox(work, "sandbox-e", "--health-delay", t.FAST_HEALTH_MS)
    repo = t.Repo(work, "repo-e", git=True)
    repo.edit("galley.yaml", 'production: {port_prefix: "", host_prefix: ""}',
              'production: {port_prefix: "", host_prefix: "", sync: auto, policy: {drift: report}}',
              "production auto, drift reported")
    repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
              'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging auto")
    ok, flaky, hang = Receiver("ok"), Receiver("flaky"), Receiver("hang")
    g = t.Galley(sb, work, "state-e.db")
    s = Serve(g, repo.dir, "--notify-webhook", ok.url, "--notify-webhook", flaky.url, "--notify-webhook", hang.url,
              "--flap-max-reverts", "2", drift=True, env={"GALLEY_NOTIFY_SECRET": NOTIFY_SECRET})
    try:
        _group_e(sb, s, repo, ok, flaky, hang)
    finally:
        s.stop()
        for r in (ok, flaky, hang):
            r.stop()
        sb.stop()


def _group_e(sb, s, repo, ok, flaky, hang):
    s.wait_reconciles(1)
    first = s.reconciles()[0]
    t.check("E first reconcile applied both environments",
            first.get("result", {}).get("apply", {}).get("outcome") == "applied", first)
    sb.wait_settled()
    code, text = s.get("/metrics")
    pt = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    t.check("E /metrics after a reconcile: promtool check metrics accepts it", code == 200 and pt.returncode == 0,
            f"{code} {pt.stdout}{pt.stderr}")
    t.check("E /metrics: an applied reconcile, the leader, a last success",
            (metric(text, 'galley_reconciles_total{result="applied"}') or 0) >= 1 and
            metric(text, "galley_leader") == 1 and (metric(text, "galley_last_success_timestamp_seconds") or 0) > 0 and
            (metric(text, 'galley_apply_actions_total{kind="app-create",outcome="applied"}') or 0) >= 1, text[:2000])
    app = "/app/staging/test-server"
    want = sb.app(app)["instances"]
    # A hand scale in a `sync: auto` environment with policy revert: repaired within seconds.
    t0 = time.monotonic()
    sb.scale_by_hand(app, want + 2)
    t.wait_until("the hand scale reverted", lambda: sb.app(app)["instances"] == want or None, 15, 0.05)
    took_app = time.monotonic() - t0
    t.check("E a hand scale in staging is reverted within 5 s", took_app < 5, f"{took_app:.1f} s")
    key = next(k for k in sb.kv_keys("app/staging/") if not k.endswith("/"))
    value = sb.kv(key)
    t0 = time.monotonic()
    sb.kv_put_by_hand(key, "by-hand")
    t.wait_until("the hand KV write reverted", lambda: sb.kv(key) == value or None, 15, 0.05)
    took_kv = time.monotonic() - t0
    t.check("E a hand KV write in staging is reverted within 5 s", took_kv < 5, f"{took_kv:.1f} s")
    # Policy report (production): seen within seconds, reported, not reverted.
    pkey = next(k for k in sb.kv_keys("app/production/") if not k.endswith("/"))
    t0 = time.monotonic()
    sb.kv_put_by_hand(pkey, "by-hand")

    def reported():
        code, text = s.get("/api/v1/drift")
        return code == 200 and any(d.get("resource") == "consul-kv:" + pkey for d in json.loads(text).get("drift", []))
    t.wait_until("the production drift in /api/v1/drift", lambda: reported() or None, 15, 0.05)
    took_report = time.monotonic() - t0
    code, text = s.get("/metrics")
    t.check("E a hand KV write in production (report) is in /api/v1/drift within 5 s and in /metrics",
            took_report < 5 and metric(text, 'galley_drift_resources{environment="production",kind="consul_kv"}') == 1,
            f"{took_report:.1f} s; {[l for l in text.splitlines() if l.startswith('galley_drift_resources')]}")
    t.check("E ... and left as it is", sb.kv(pkey) == "by-hand", sb.kv(pkey))
    t.wait_until("the drift notification", lambda: ok.events("drift_new") or None, 10, 0.05)
    n = [r for r in ok.events("drift_new") if pkey in r["body"]]
    t.check("E new drift notified once, signed, naming the resource", len(n) == 1 and n[0]["signed"], n)
    t.wait_until("the flaky receiver's retry", lambda: flaky.events()[1:] or None, 10, 0.05)
    f = flaky.events()
    t.check("E a receiver that failed first (503) got the same delivery again (retried)",
            len(f) >= 2 and f[0]["body"] == f[1]["body"] and all(r["signed"] for r in f), [r["event"] for r in f])
    t.check("E a receiver that hangs was reached and blocked nothing (the reverts above were timely)",
            len(hang.events()) >= 1, len(hang.events()))
    # Flapping: --flap-max-reverts 2; the scale above was the first revert.
    sb.wait_settled()
    sb.scale_by_hand(app, want + 2)
    t.wait_until("the second revert", lambda: sb.app(app)["instances"] == want or None, 15, 0.05)
    sb.wait_settled()
    sb.scale_by_hand(app, want + 2)
    resource = "marathon-app:" + app

    def flapping():
        code, text = s.get("/api/v1/drift")
        return code == 200 and any(f.get("resource") == resource for f in json.loads(text).get("flapping", []))
    t.wait_until("flapping in /api/v1/drift", lambda: flapping() or None, 15, 0.05)
    time.sleep(1.5)
    code, text = s.get("/metrics")
    t.check("E the third hand change is left alone as flapping (drift JSON, metrics, one notification)",
            sb.app(app)["instances"] == want + 2 and metric(text, "galley_flapping_resources") == 1 and
            len(ok.events("flapping")) == 1,
            (sb.app(app)["instances"], metric(text, "galley_flapping_resources"), len(ok.events("flapping"))))
    code, text = s.post("/api/v1/flapping/clear", {"resource": resource}, token=None)
    t.check("E POST /api/v1/flapping/clear needs the token", code == 401, f"{code} {text}")
    code, text = s.post("/api/v1/flapping/clear", {"resource": resource})
    t.check("E ... with it: cleared", code == 200 and resource in json.loads(text).get("cleared", []), f"{code} {text}")
    t.wait_until("the revert after the clear", lambda: sb.app(app)["instances"] == want or None, 15, 0.05)
    code, text = s.get("/metrics")
    t.check("E after the clear it is reverted again and no longer flapping",
            metric(text, "galley_flapping_resources") == 0, text[:300])
    # The other way to act: a commit that changes the flapping resource ends its flapping.
    # (The revert after the clear counted as the first of a new history.)
    sb.wait_settled()
    sb.scale_by_hand(app, want + 2)
    t.wait_until("a revert", lambda: sb.app(app)["instances"] == want or None, 15, 0.05)
    sb.wait_settled()
    sb.scale_by_hand(app, want + 2)
    t.wait_until("flapping again", lambda: flapping() or None, 15, 0.05)
    repo.edit("services/test-server.yaml", "instances: 1\n", "instances: 2\n", "test-server: 2")
    code, text = s.post("/api/v1/reconcile")
    try:
        t.wait_until("the commit applied", lambda: sb.app(app)["instances"] == 2 and not flapping() or None, 20,
                     0.05)
    except TimeoutError:
        pass
    code, text = s.get("/metrics")
    t.check("E a commit changing the flapping app ends its flapping (and is applied)",
            metric(text, "galley_flapping_resources") == 0 and sb.app(app)["instances"] == 2 and not flapping(),
            (metric(text, "galley_flapping_resources"), sb.app(app)["instances"]))
    # Marathon and Consul gone: the streams keep retrying, serve keeps answering.
    sb.stop()
    time.sleep(1.5)
    code, text = s.get("/healthz")
    t.check("E with Marathon and Consul down serve stays up (the drift watch retries)",
            s.proc.poll() is None and code == 200, s.log()[-1000:])
    t0 = time.monotonic()
    rc = s.stop()
    took_stop = time.monotonic() - t0
    t.check("E SIGTERM: exit 0 within 10 s (a notification receiver still hangs)", rc == 0 and took_stop < 10,
            f"exit {rc} after {took_stop:.1f} s")
    print(f"measure E: SIGTERM to exit {took_stop:.1f} s; revert of a hand scale {took_app:.2f} s, of a hand KV write {took_kv:.2f} s; "
          f"report of a hand KV write {took_report:.2f} s")


def main():
    work = tempfile.mkdtemp(prefix="galley-serve-cli-")
    only = os.environ.get("GALLEY_E2E_ONLY", "")
    try:
        for name, fn in (("A: directory, sync auto/manual, API", group_a),
                         ("B: Git remote", group_b),
                         ("C: two servers, leader killed", group_c),
                         ("D: SIGTERM during an apply", group_d),
                         ("E: event-driven drift, metrics, notifications, flapping", group_e)):
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
