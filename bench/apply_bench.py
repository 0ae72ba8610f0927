#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`galley apply` from empty against a marathon-deploy.sh-style baseline (bench/apply.sh).

    apply_bench.py --galley build/bin/galley --sandbox build/bin/galley-sandbox
                   [--services 500] [--environments 2] [--runs 3]
                   [--baseline-subset 100] [--baseline-runs 3] [--no-baseline-full]
                   [--no-count-requests] [--target-ratio 5] [--json FILE] [--keep]
    apply_bench.py --smoke --galley ... --sandbox ...     # CI: 10 x 2, convergence only

The repository comes from gen_repo.py with its `paused: true` lines removed, so every
service x environment is deployed (galley skips paused ones). Every measured run starts a
fresh galley-sandbox (simulated tasks, default health delay 1 s, default cap of 100
concurrent deployments; DESIGN §7.8) and a fresh state file, and records its ports from
--ready-file. The binaries are copied once into the work directory, so every run uses the
same build even if build/ is rebuilt meanwhile.

galley: `galley apply REPO --auto-approve --marathon M --consul C --state FRESH`, with every
secret_env variable of the repository set, timed as a whole process (os.wait4, as
measure.py: wall, user/sys, peak RSS). Its progress lines are read for a breakdown (time
before the first action, KV steps, apps). One more run, not timed, goes through a counting
HTTP proxy for the number of requests.

baseline: bench/baseline_deploy.sh over the service definitions galley would deploy:
`galley render --out` (Marathon apps, KV) with galley's `galley.config-digest` label added
to each app (render does not print it; the value is taken from `galley plan --json` with
GALLEY_HMAC_KEY set, and every rendered app plus that label is checked to equal the plan's
body), so both sides leave the same state and pass the same check. Prepared once, not timed.
The baseline polls on galley's schedule (first looks 0.1, 0.2 and 0.4 s apart, then every
0.5 s). It takes ~1.3 s per app (22 min at 1,000 apps), so it is measured BASELINE_RUNS times
on a deterministic subset (the first N services in name order, x every environment) and
once in full; the ratio uses the measured full run.

Convergence check after every run: `galley plan --detailed-exitcode` (fresh state file;
--target for a subset) exits 0, Marathon lists exactly the expected apps, each with
tasksHealthy == tasksRunning == instances as declared, and no deployment is left.

Exit 0 when everything converged and the ratio meets the target (smoke: convergence only),
1 when the target is missed or a check failed, 2 on an error.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_HMAC_KEY = "bench-baseline-hmac-key"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def fmt(v):
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


# ---- the repository and the service definitions ----------------------------------------

def secret_env(repo):
    names = set()
    for root, _, files in os.walk(os.path.join(repo, "services")):
        for f in files:
            for line in open(os.path.join(root, f)):
                if "secret_env:" in line:
                    names.add(line.split("secret_env:")[1].strip().strip("}").strip())
    return {n: "bench-" + n.lower() for n in names}


def unpause(repo):
    """Removes gen_repo.py's `paused: true` lines (block form only); returns how many."""
    n = 0
    for root, _, files in os.walk(os.path.join(repo, "services")):
        for f in files:
            p = os.path.join(root, f)
            lines = open(p).read().split("\n")
            kept = [x for x in lines if x.strip() != "paused: true"]
            if len(kept) != len(lines):
                n += len(lines) - len(kept)
                open(p, "w").write("\n".join(kept))
            if any("paused" in x for x in kept):
                raise SystemExit(f"apply_bench: {p}: a paused setting this script cannot remove")
    return n


class Sandbox:
    """A fresh galley-sandbox on ports chosen by the kernel; stopped with SIGTERM."""

    def __init__(self, binary, work, tag, extra=()):
        self.ready = os.path.join(work, f"ready-{tag}.json")
        self.log = open(os.path.join(work, f"sandbox-{tag}.log"), "w")
        self.proc = subprocess.Popen([binary, "--marathon-port", "0", "--consul-port", "0", "--ready-file",
                                      self.ready, *extra], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(400):
            if os.path.exists(self.ready) and os.path.getsize(self.ready) > 0:
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"apply_bench: galley-sandbox exited with {self.proc.returncode}")
            time.sleep(0.025)
        else:
            raise SystemExit("apply_bench: galley-sandbox wrote no --ready-file within 10 s")
        ports = json.load(open(self.ready))
        self.mport, self.cport = ports["marathon_port"], ports["consul_port"]
        self.marathon = f"http://127.0.0.1:{self.mport}"
        self.consul = f"http://127.0.0.1:{self.cport}"

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.mport, timeout=60)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_timed(cmd, env, log_path):
    """Runs a whole command with its output to log_path: wall, user, sys, peak RSS, rc."""
    with open(log_path, "w") as log:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:  # interrupted: do not leave it polling a stopped sandbox
            p.kill()
            p.wait()
            raise
        wall = time.monotonic() - t0
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024.0,
            "rc": os.waitstatus_to_exitcode(status)}


def plan_json(a, repo, sb, env, state):
    p = subprocess.run([a.galley, "plan", repo, "--marathon", sb.marathon, "--consul", sb.consul, "--state", state,
                        "--json"], env=env, capture_output=True, text=True)
    if p.returncode not in (0, 2):
        sys.stderr.write(p.stderr)
        raise SystemExit("apply_bench: galley plan --json failed")
    return json.loads(p.stdout)


def prepare_definitions(a, work, repo, base_env):
    """galley render --out, plus the galley.config-digest label from galley's own plan."""
    render = os.path.join(work, "render")
    p = subprocess.run([a.galley, "render", repo, "--out", render], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("apply_bench: galley render --out failed")
    sb = Sandbox(a.sandbox, work, "prepare")
    try:
        plan = plan_json(a, repo, sb, dict(base_env, GALLEY_HMAC_KEY=BENCH_HMAC_KEY), os.path.join(work, "prepare.db"))
    finally:
        sb.stop()
    desired = {x["target"]: x["desired"] for x in plan["actions"] if x["kind"] == "app-create"}
    keys = sum(1 for x in plan["actions"] if x["kind"] == "kv-put")
    defs = os.path.join(work, "defs")
    shutil.copytree(os.path.join(render, "kv"), os.path.join(defs, "kv"))
    mismatched, count = [], 0
    for env in sorted(os.listdir(os.path.join(render, "marathon"))):
        os.makedirs(os.path.join(defs, "marathon", env))
        for f in sorted(os.listdir(os.path.join(render, "marathon", env))):
            app = json.load(open(os.path.join(render, "marathon", env, f)))
            want = desired.get(app["id"])
            label = (want or {}).get("labels", {}).get("galley.config-digest")
            if label:
                app["labels"]["galley.config-digest"] = label
            if app != want:
                mismatched.append(app["id"])
            with open(os.path.join(defs, "marathon", env, f), "w") as out:
                json.dump(app, out, indent=2)
                out.write("\n")
            count += 1
    check(not mismatched and count == len(desired),
          f"the baseline's {count} definitions are galley render's output + galley's config-digest label, "
          f"equal to the {len(desired)} bodies galley's plan creates"
          + (f" (differ: {mismatched[:3]})" if mismatched else ""))
    return defs, len(desired), keys


# ---- convergence ------------------------------------------------------------------------

def expected_apps(defs, services):
    want = {}
    for env in os.listdir(os.path.join(defs, "marathon")):
        for f in os.listdir(os.path.join(defs, "marathon", env)):
            if services is None or f[:-5] in services:
                app = json.load(open(os.path.join(defs, "marathon", env, f)))
                want[app["id"]] = app["instances"]
    return want


def verify(a, what, repo, sb, env, work, tag, want, services=None, baseline=False):
    """The baseline (marathon-deploy.sh) deploys apps and KV only; the seed had no LB model
    for its agents (consul-template rendered from the repository), so for it the HAProxy
    models galley would publish are the one difference allowed."""
    targets = [x for s in sorted(services) for x in ("--target", s)] if services else []
    state = os.path.join(work, f"verify-{tag}.db")
    p = subprocess.run([a.galley, "plan", repo, "--detailed-exitcode", "--marathon", sb.marathon, "--consul",
                        sb.consul, "--state", state, *targets, *(["--json"] if baseline else [])],
                       env=env, capture_output=True, text=True)
    converged = p.returncode == 0
    if baseline and p.returncode == 2:
        try:
            kinds = {x["kind"] for x in json.loads(p.stdout)["actions"]}
            converged = kinds <= {"haproxy-model-create"}
        except (ValueError, KeyError):
            converged = False
    ok_plan = check(converged, f"{what}: galley plan --detailed-exitcode exits 0 (got {p.returncode})"
                    + (" or plans only the HAProxy models" if baseline else ""))
    if not ok_plan:
        print("\n".join(("    " + x) for x in (p.stdout + p.stderr).splitlines()[:15]))
    status, body = sb.get("/v2/apps?embed=apps.counts")
    apps = {x["id"]: x for x in body.get("apps", [])} if status == 200 else {}
    bad = [i for i, n in want.items() if i not in apps or not (
        apps[i]["instances"] == n and apps[i]["tasksHealthy"] == n and apps[i]["tasksRunning"] == n)]
    extra = sorted(set(apps) - set(want))
    status, deps = sb.get("/v2/deployments")
    check(not bad and not extra and status == 200 and deps == [],
          f"{what}: Marathon has exactly the {len(want)} apps, each tasksHealthy == tasksRunning == instances, "
          f"no deployment left" + (f" (not healthy: {bad[:3]}, unexpected: {extra[:3]}, "
                                   f"{len(deps or [])} deployments)" if bad or extra or deps else ""))
    return ok_plan and not bad and not extra


# ---- a counting HTTP proxy (for the number of requests; never on a timed run) ------------

def request_kind(method, path):
    path = urllib.parse.urlsplit(path).path
    for pattern, name in ((r"^/v2/apps/.+", "/v2/apps/{id}"), (r"^/v1/kv/galley/[^/]+/applied/.*", "/v1/kv/galley/{p}/applied/{env}/{svc}"),
                          (r"^/v1/kv/galley/[^/]+/lock$", "/v1/kv/galley/{p}/lock"),
                          (r"^/v1/kv/galley/.*", "/v1/kv/galley/..."), (r"^/v1/kv/.+", "/v1/kv/{key}"),
                          (r"^/v1/session/(renew|destroy|info)/.+", r"/v1/session/\1/{id}"),
                          (r"^/v2/deployments/.+", "/v2/deployments/{id}")):
        if re.match(pattern, path):
            return method + " " + re.sub(pattern, name, path)
    return method + " " + path


class CountingProxy:
    """Forwards HTTP/1.1 (keep-alive) to 127.0.0.1:upstream, counting requests by kind."""

    def __init__(self, upstream):
        self.counts = {}
        lock = threading.Lock()
        counts = self.counts
        local = threading.local()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on small replies
            wbufsize = -1                   # headers and body leave in one write

            def log_message(self, *args):
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive", "host", "content-length")}
                with lock:
                    kind = request_kind(self.command, self.path)
                    counts[kind] = counts.get(kind, 0) + 1
                for attempt in (0, 1):
                    conn = getattr(local, "conn", None)
                    if conn is None:
                        conn = local.conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=900)
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        r = conn.getresponse()
                        data = r.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        local.conn = None
                        if attempt:
                            raise
                self.send_response(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the two sides ----------------------------------------------------------------------

def galley_breakdown(log_path, wall):
    """From apply's progress lines: time before the executor, KV steps, app steps."""
    starts, done, kv, per_app, summary = {}, {}, [], [], None
    for line in open(log_path, errors="replace"):
        m = re.match(r"\[\s*([\d.]+)s\] (.*)", line.rstrip("\n"))
        if m:
            t, rest = float(m.group(1)), m.group(2)
            if rest.startswith("kv-put "):
                kv.append(t)
            mm = re.match(r"app-\S+ (\S+): starting$", rest)
            if mm:
                starts[mm.group(1)] = t
            mm = re.match(r"app-\S+ (\S+): done in ([\d.]+) s$", rest)
            if mm:
                done[mm.group(1)] = t
                per_app.append(float(mm.group(2)))
        mm = re.match(r"Apply complete: .*\(([\d.]+) s\)", line)
        if mm:
            summary = float(mm.group(1))
    if not starts or summary is None:
        return None
    events = sorted([(t, 1) for t in starts.values()] + [(t, -1) for t in done.values()], key=lambda e: (e[0], e[1]))
    inflight = peak = 0
    for _, d in events:
        inflight += d
        peak = max(peak, inflight)
    return {"before_executor_s": wall - summary, "executor_s": summary, "kv_steps": len(kv),
            "last_kv_s": max(kv) if kv else 0.0, "first_app_start_s": min(starts.values()),
            "last_app_done_s": max(done.values()) if done else 0.0, "apps": len(done),
            "app_median_s": statistics.median(per_app) if per_app else 0.0, "max_apps_in_flight": peak}


def galley_run(a, work, repo, env, tag, want, proxy=False):
    sb = Sandbox(a.sandbox, work, "galley-" + tag, a.sandbox_extra)
    proxies = []
    try:
        m, c = sb.marathon, sb.consul
        if proxy:
            proxies = [CountingProxy(sb.mport), CountingProxy(sb.cport)]
            m, c = proxies[0].url, proxies[1].url
        log = os.path.join(work, f"galley-{tag}.log")
        r = run_timed([a.galley, "apply", repo, "--auto-approve", "--marathon", m, "--consul", c, "--state",
                       os.path.join(work, f"galley-{tag}.db"), *a.galley_args], env, log)
        if r["rc"] != 0:
            print(open(log, errors="replace").read()[-3000:])
        check(r["rc"] == 0, f"galley {tag}: apply exits 0 in {fmt(r['wall'])} s")
        r["breakdown"] = galley_breakdown(log, r["wall"])
        if proxies:
            for p in proxies:
                p.stop()
            r["requests"] = {k: v for p in proxies for k, v in p.counts.items()}
            proxies = []
        r["converged"] = verify(a, f"galley {tag}", repo, sb, env, work, "galley-" + tag, want)
        return r
    finally:
        for p in proxies:
            p.stop()
        sb.stop()


def baseline_run(a, work, repo, defs, env, tag, want, services=None):
    sb = Sandbox(a.sandbox, work, "baseline-" + tag, a.sandbox_extra)
    try:
        log = os.path.join(work, f"baseline-{tag}.log")
        benv = dict(env, POLL_MS=str(a.baseline_poll_ms), FIRST_POLL_MS=str(a.baseline_first_poll_ms),
                    ENVS=" ".join(a.env_names))
        r = run_timed(["bash", os.path.join(HERE, "baseline_deploy.sh"), defs, sb.marathon, sb.consul,
                       *(sorted(services) if services else [])], benv, log)
        text = open(log, errors="replace").read()
        if r["rc"] != 0:
            print(text[-3000:])
        check(r["rc"] == 0, f"baseline {tag}: baseline_deploy.sh exits 0 in {fmt(r['wall'])} s")
        m = re.search(r"; (\d+) HTTP requests \((.*)\)", text)
        r["requests_total"] = int(m.group(1)) if m else None
        r["requests_detail"] = m.group(2) if m else ""
        r["converged"] = verify(a, f"baseline {tag}", repo, sb, dict(env, GALLEY_HMAC_KEY=BENCH_HMAC_KEY), work,
                                "baseline-" + tag, want, services, baseline=True)
        return r
    finally:
        sb.stop()


def stats(vals):
    return statistics.median(vals), min(vals), max(vals)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--galley", required=True)
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--environments", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="timed galley runs")
    ap.add_argument("--baseline-subset", type=int, default=100, help="services in the baseline subset (0: none)")
    ap.add_argument("--baseline-runs", type=int, default=3, help="timed baseline runs on the subset")
    ap.add_argument("--no-baseline-full", action="store_true", help="skip the one full baseline run (~22 min)")
    ap.add_argument("--no-count-requests", action="store_true", help="skip the extra galley run through a proxy")
    ap.add_argument("--target-ratio", type=float, default=5.0)
    ap.add_argument("--baseline-poll-ms", type=int, default=500, help="the baseline's poll interval (galley's default)")
    ap.add_argument("--baseline-first-poll-ms", type=int, default=100,
                    help="the baseline's first quick look, doubling up to the interval, as galley does (0: fixed)")
    ap.add_argument("--galley-arg", action="append", default=[],
                    help="an extra argument for galley apply (repeatable), e.g. --galley-arg=--concurrency=64; "
                         "the run is then labelled as not the default")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, definitions)")
    ap.add_argument("--smoke", action="store_true",
                    help="CI: 10 x 2, 1 run each, health delay 20 ms, baseline poll 100 ms; convergence only")
    a = ap.parse_args()
    a.sandbox_extra = []
    # "--concurrency=64" → "--concurrency", "64" (galley's parser takes separate values)
    a.galley_args = [x for arg in a.galley_arg for x in (arg.split("=", 1) if arg.startswith("--") else [arg])]
    if a.smoke:
        # Shortened delays make the smoke run quick; its times say nothing and no verdict is given.
        a.sandbox_extra, a.baseline_poll_ms = ["--health-delay", "20"], 100
        if "--services" not in sys.argv:
            a.services = 10
        a.runs, a.baseline_runs = 1, 1
        a.baseline_subset = min(a.baseline_subset, 2)
    for p in (a.galley, a.sandbox):
        if not os.access(p, os.X_OK):
            print(f"apply_bench: {p} is not executable", file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="galley-apply-bench-")
    try:
        # Every run uses one copy of the binaries: the build directory may be rebuilt meanwhile.
        os.makedirs(os.path.join(work, "bin"))
        for name in ("galley", "sandbox"):
            dst = os.path.join(work, "bin", os.path.basename(getattr(a, name)))
            shutil.copy2(getattr(a, name), dst)
            setattr(a, name, dst)
        return bench(a, work)
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def describe_binary(a):
    version = subprocess.run([a.galley, "--version"], capture_output=True, text=True).stdout.strip()
    digest = subprocess.run(["sha256sum", a.galley], capture_output=True, text=True).stdout[:12]
    head = subprocess.run(["git", "-C", HERE, "log", "-1", "--format=%h %ci"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no", "--", "../reconciler"],
                           capture_output=True, text=True).stdout.strip()
    tree = head.stdout.strip() + (" + uncommitted changes under reconciler/" if dirty else "") if head.returncode == 0 else "?"
    return f"{version} (binary sha256 {digest}); the checkout is at {tree}"


def bench(a, work):
    print("galley:", describe_binary(a), flush=True)
    repo = os.path.join(work, "repo")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo, "--services", str(a.services),
                    "--environments", str(a.environments)], check=True, stdout=subprocess.DEVNULL)
    unpaused = unpause(repo)
    a.env_names = ["production", "staging", "qa", "dev", "perf", "sandbox", "demo"][:a.environments]
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("GALLEY_HMAC_KEY", "GALLEY_MARATHON_URL", "GALLEY_CONSUL_URL", "CONSUL_HTTP_ADDR",
                             "GALLEY_TRACE")}
    base_env.update(secret_env(repo))
    defs, n_apps, n_keys = prepare_definitions(a, work, repo, base_env)
    want_all = expected_apps(defs, None)
    services = sorted(f[:-5] for f in os.listdir(os.path.join(defs, "marathon", a.env_names[0])))
    subset = set(services[:a.baseline_subset]) if 0 < a.baseline_subset < len(services) else None
    print(f"{a.services} services x {a.environments} environments ({unpaused} paused service-environments "
          f"unpaused): {n_apps} apps, {sum(want_all.values())} tasks, {n_keys} KV keys; "
          f"sandbox: simulated tasks, {'health delay 20 ms (smoke)' if a.smoke else 'default health delay (1 s)'}, "
          f"default deployment cap", flush=True)

    results = {"services": a.services, "environments": a.environments, "apps": n_apps, "keys": n_keys,
               "smoke": a.smoke}
    galley = [galley_run(a, work, repo, base_env, f"run-{i + 1}", want_all) for i in range(a.runs)]
    counted = None if a.no_count_requests else galley_run(a, work, repo, base_env, "counted", want_all,
                                                          proxy=True)
    sub_runs = []
    if subset:
        want_sub = expected_apps(defs, subset)
        sub_runs = [baseline_run(a, work, repo, defs, base_env, f"subset-{i + 1}", want_sub, subset)
                    for i in range(a.baseline_runs)]
    full = None if a.no_baseline_full else baseline_run(a, work, repo, defs, base_env, "full", want_all)

    # ---- report ----
    gw = stats([r["wall"] for r in galley])
    extra = f" with {' '.join(a.galley_args)} (NOT the default)" if a.galley_args else ""
    print(f"\ngalley apply{extra} from empty: {n_apps} apps, {n_keys} keys ({len(galley)} run{'s' if len(galley) > 1 else ''}, each on a fresh sandbox)")
    print(f"  wall     median {fmt(gw[0])} s  (min {fmt(gw[1])}, max {fmt(gw[2])})")
    print(f"  cpu      median {fmt(statistics.median(r['user'] + r['sys'] for r in galley))} s "
          f"(user {fmt(statistics.median(r['user'] for r in galley))}, sys {fmt(statistics.median(r['sys'] for r in galley))})")
    print(f"  peak RSS max {max(r['peak_mb'] for r in galley):.0f} MB (median {statistics.median(r['peak_mb'] for r in galley):.0f})")
    bds = [r["breakdown"] for r in galley if r["breakdown"]]
    if bds:
        med = lambda k: statistics.median(b[k] for b in bds)
        print(f"  where the time goes (medians): {fmt(med('before_executor_s'))} s before the first action (load, "
              f"lock, observe, plan); {bds[0]['kv_steps']} KV steps, the last at {fmt(med('last_kv_s'))} s; first app "
              f"write at {fmt(med('first_app_start_s'))} s; last app healthy at {fmt(med('last_app_done_s'))} s; "
              f"write->healthy {fmt(med('app_median_s'))} s per app; at most {bds[0]['max_apps_in_flight']} apps in flight")
    if counted:
        reqs = counted.get("requests", {})
        total = sum(reqs.values())
        top = ", ".join(f"{v} {k}" for k, v in sorted(reqs.items(), key=lambda kv: -kv[1])[:8])
        print(f"  HTTP requests: {total} (an extra run through a counting proxy, {fmt(counted['wall'])} s): {top}")
        results["galley_requests"] = {"total": total, "by_kind": reqs, "wall": counted["wall"]}
    results["galley"] = {"wall_median": gw[0], "wall_min": gw[1], "wall_max": gw[2],
                         "peak_mb": max(r["peak_mb"] for r in galley), "runs": galley}

    schedule = (f"first looks after {a.baseline_first_poll_ms} ms, doubling, then every {a.baseline_poll_ms} ms"
                if a.baseline_first_poll_ms else f"every {a.baseline_poll_ms} ms")
    print(f"\nbaseline (bench/baseline_deploy.sh: one app at a time, KV then PUT /v2/apps/<id>, poll {schedule})")
    per_app = None
    if sub_runs:
        sw = stats([r["wall"] for r in sub_runs])
        n_sub = len(expected_apps(defs, subset))
        per_app = sw[0] / n_sub
        print(f"  subset, first {len(subset)} services x {a.environments} environments = {n_sub} apps, "
              f"{len(sub_runs)} run{'s' if len(sub_runs) > 1 else ''}: median {fmt(sw[0])} s (min {fmt(sw[1])}, max {fmt(sw[2])}); "
              f"{per_app:.2f} s per app; {sub_runs[0]['requests_total']} requests")
        results["baseline_subset"] = {"services": len(subset), "apps": n_sub, "wall_median": sw[0], "wall_min": sw[1],
                                      "wall_max": sw[2], "per_app": per_app, "runs": sub_runs}
    if full:
        print(f"  full, {n_apps} apps, 1 run: {fmt(full['wall'])} s ({full['wall'] / n_apps:.2f} s per app); "
              f"{full['requests_total']} requests ({full['requests_detail']})")
        results["baseline_full"] = full
    if per_app is not None:
        print(f"  (cross-check only, not used below: subset per-app time x {n_apps} apps = {fmt(per_app * n_apps)} s)")

    if a.smoke:
        print("\nsmoke: health delay and baseline poll shortened, times are not comparable; no verdict")
        ok = not failures
    elif full:
        ratio = full["wall"] / gw[0]
        results["ratio"] = ratio
        ok = ratio >= a.target_ratio and not failures
        print(f"\nratio: baseline {fmt(full['wall'])} s (measured, full) / galley median {fmt(gw[0])} s = {ratio:.1f}x")
        print(("PASS" if ok else "FAIL") + f": galley is {ratio:.1f}x faster than the one-at-a-time baseline "
              f"(target >= {a.target_ratio:g}x)" + extra + ("" if not failures else f"; {len(failures)} checks failed"))
    elif per_app is not None:
        est = per_app * n_apps
        ratio = est / gw[0]
        results["ratio_estimated"] = ratio
        ok = ratio >= a.target_ratio and not failures
        print(f"\nratio (ESTIMATED: no full baseline run; subset per-app time x {n_apps} apps = {fmt(est)} s) / "
              f"galley median {fmt(gw[0])} s = {ratio:.1f}x")
        print(("PASS" if ok else "FAIL") + f" (estimated): target >= {a.target_ratio:g}x")
    else:
        print("\nno baseline measured; no verdict")
        ok = not failures
    if failures:
        print(f"{len(failures)} checks failed: " + "; ".join(failures))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
