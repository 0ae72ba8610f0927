#!/usr/bin/env python3
"""`galley apply --chronos` as users run it (issue #16): the built galley against a real galley-sandbox
with its Chronos emulator, jobs and apps as real processes (--tasks process). One small repository, one
service with a pre-deploy migration hook, a post-deploy smoke hook and a scheduled job:
  1 first apply: the jobs are created, the migration runs, the app is deployed, the smoke job runs;
  2 a change to the app with a migration that exits 1: exit non-zero, the app is NOT updated (Marathon
    still runs the old version), the smoke job does not run, the report names the job and its output;
  3 the migration fixed: the deploy happens and the post-deploy hook runs;
  4 a scheduled job edited by hand in Chronos: drift reports it, apply reverts it;
  5 history shows the hook steps from the journal.
Everything runs on loopback in a temporary directory; every process started is stopped, even on failure,
and every subprocess and poll loop is bounded.

Usage: test_chronos_apply_cli.py GALLEY GALLEY_SANDBOX GALLEY_TESTSERVER GALLEY_WRAPPER
Environment: GALLEY_E2E_KEEP=1 keeps the temporary directory."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

GALLEY, SANDBOX, TESTSERVER, WRAPPER = sys.argv[1:5]
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {str(detail)[:3000]}"), flush=True)
    return bool(cond)


def wait_until(what, pred, timeout, interval=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last: {str(last)[:500]})")


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_json(url):
    status, text = http("GET", url)
    return json.loads(text) if status == 200 else None


def stop_process(p, grace=15):
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            p.kill()
        p.wait(timeout=10)
    except ProcessLookupError:
        pass


PLATFORM = """apiVersion: galley/v1
name: e2e-chronos
marathon: {{urls: ["{m}"]}}
consul: {{url: "{c}"}}
chronos: {{url: "{j}"}}
registry: registry.local
wrapper: [service-wrapper.sh, "dockerhost:{mport}", "dockerhost:{cport}"]
environments:
  production: {{}}
"""

SERVICE = """name: web
image: web
command: [server]
resources: {{cpus: 0.05, mem: 32}}
ports:
  - {{container: 3000}}
health: {{path: /healthcheck, grace: 5s, interval: 1s, max_failures: 3}}
config:
  LOG_LEVEL: info
environments:
  production:
    tag: {tag}
    instances: 1
jobs:
  migrate:
    command: [{migrate}]
    hook: pre-deploy
    config: false
    retries: 0
  smoke:
    command: ["true"]
    hook: post-deploy
    config: false
    retries: 0
  report:
    command: [report, --daily]
    schedule: R/2099-01-01T03:00:00Z/P1D
    config: false
"""


def main():
    work = tempfile.mkdtemp(prefix="galley-chronos-apply-")
    procs = []
    try:
        logs = os.path.join(work, "tasks")
        ready = os.path.join(work, "ready.json")
        sb_log = open(os.path.join(work, "sandbox.log"), "wb")
        sb = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--chronos-port", "0",
                               "--ready-file", ready, "--tasks", "process", "--log-dir", logs,
                               "--exec-alias", f"service-wrapper.sh={WRAPPER}", "--exec-alias", f"server={TESTSERVER}",
                               "--host-alias", "dockerhost=127.0.0.1", "--health-delay", "200"],
                              stdout=sb_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=True)
        procs.append(sb)
        ports = wait_until("the sandbox's ready file",
                           lambda: os.path.exists(ready) and os.path.getsize(ready) and json.load(open(ready)), 15)
        m = f"http://127.0.0.1:{ports['marathon_port']}"
        c = f"http://127.0.0.1:{ports['consul_port']}"
        j = f"http://127.0.0.1:{ports['chronos_port']}"
        jobs_api = j + "/v1/scheduler"
        repo = os.path.join(work, "repo")
        os.makedirs(os.path.join(repo, "services"))
        with open(os.path.join(repo, "galley.yaml"), "w") as f:
            f.write(PLATFORM.format(m=m, c=c, j=j, mport=ports["marathon_port"], cport=ports["consul_port"]))

        def write_service(tag, migrate):
            with open(os.path.join(repo, "services", "web.yaml"), "w") as f:
                f.write(SERVICE.format(tag=tag, migrate=migrate))

        env = dict(os.environ, XDG_STATE_HOME=os.path.join(work, "xdg"), NO_COLOR="1", USER="e2e")
        for k in ("GALLEY_HMAC_KEY", "GALLEY_MARATHON_URL", "GALLEY_CONSUL_URL", "GALLEY_CHRONOS_URL",
                  "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "GALLEY_TRACE"):
            env.pop(k, None)
        state = os.path.join(work, "galley.db")

        def galley(*args, timeout=90):
            return subprocess.run([GALLEY, *args, "--state", state], capture_output=True, text=True, cwd=work,
                                  stdin=subprocess.DEVNULL, env=env, timeout=timeout)

        def job(name):
            return get_json(f"{jobs_api}/job/{name}")

        def app():
            a = get_json(m + "/v2/apps/app/production/web")
            return a["app"] if a else None

        def app_tag(a):
            image = (((a or {}).get("container") or {}).get("docker") or {}).get("image", "")
            return image.rsplit(":", 1)[-1] if ":" in image else json.dumps(a or {})[:300]

        # 1: first apply.
        write_service("v1", "true")
        t0 = time.monotonic()
        r = galley("apply", repo, "--auto-approve", "--hook-deadline", "30s")
        out = r.stdout + r.stderr
        check("1 first apply exits 0", r.returncode == 0, f"exit {r.returncode}: {out[-3000:]}")
        check("1 the hooks ran around the deploy",
              "hook-run production-web-migrate: started" in out and "hook-run production-web-smoke: succeeded" in out
              and out.find("production-web-migrate: succeeded") < out.find("production-web-smoke: started"), out[-3000:])
        for name in ("production-web-migrate", "production-web-smoke", "production-web-report"):
            check(f"1 job {name} exists in Chronos", job(name) is not None)
        check("1 the migration ran once", (job("production-web-migrate") or {}).get("successCount") == 1,
              job("production-web-migrate"))
        a1 = app()
        check("1 the app is deployed", a1 is not None and a1.get("tasksRunning") == 1, a1)
        print(f"   first apply took {time.monotonic() - t0:.1f} s", flush=True)

        # 2: the app changes (a new tag), and the migration fails.
        write_service("v2", "false")
        r = galley("apply", repo, "--auto-approve", "--hook-deadline", "30s")
        out = r.stdout + r.stderr
        check("2 a failing migration: apply exits non-zero", r.returncode != 0, f"exit {r.returncode}: {out[-3000:]}")
        check("2 the report names the job and where its output is",
              "pre-deploy job production-web-migrate failed (error count 1" in out and "its output:" in out
              and j in out, out[-3000:])
        a2 = app()
        check("2 the app was not updated: Marathon still runs the old version",
              a2 is not None and a2.get("version") == a1.get("version") and app_tag(a2) == "v1", a2)
        check("2 the app's step was not attempted", "not attempted" in out, out[-2000:])
        # (the job itself was re-posted with the new tag, which resets its counts)
        check("2 the post-deploy hook did not run",
              "hook-run production-web-smoke: started" not in out
              and (job("production-web-smoke") or {}).get("successCount") == 0, job("production-web-smoke"))
        failed_logs = [f for f in os.listdir(logs) if ":production-web-migrate:" in f] if os.path.isdir(logs) else []
        check("2 the migration's runs have output files where the sandbox README says", len(failed_logs) >= 2,
              os.listdir(logs) if os.path.isdir(logs) else "no log dir")

        # 3: the migration fixed: the deploy happens and the post-deploy hook runs.
        write_service("v2", "true")
        smoke_runs = (job("production-web-smoke") or {}).get("successCount")  # step 2 re-posted it
        r = galley("apply", repo, "--auto-approve", "--hook-deadline", "30s")
        out = r.stdout + r.stderr
        check("3 a passing migration: apply exits 0", r.returncode == 0, f"exit {r.returncode}: {out[-3000:]}")
        a3 = app()
        check("3 the app was updated", a3 is not None and a3.get("version") != a1.get("version")
              and app_tag(a3) == "v2", a3)
        check("3 the post-deploy hook ran after the deploy",
              (job("production-web-smoke") or {}).get("successCount") == (smoke_runs or 0) + 1
              and out.find("app-update /app/production/web") < out.find("hook-run production-web-smoke: started"),
              out[-3000:])

        # 4: a scheduled job edited by hand is drift, reported and reverted.
        live = job("production-web-report")
        edited = {k: v for k, v in live.items()
                  if k not in ("successCount", "errorCount", "errorsSinceLastSuccess", "lastSuccess", "lastError")}
        edited["command"] = "report --by-hand"
        status, text = http("POST", jobs_api + "/iso8601", edited)
        check("4 hand edit accepted by Chronos", status == 204, f"{status} {text}")
        r = galley("drift", repo)
        check("4 drift reports the hand-edited job", "production-web-report" in r.stdout + r.stderr,
              f"exit {r.returncode}: {r.stdout[-2000:]}{r.stderr[-1000:]}")
        r = galley("apply", repo, "--auto-approve")
        out = r.stdout + r.stderr
        check("4 apply reverts it", r.returncode == 0 and "report --by-hand" not in (job("production-web-report") or {})
              .get("command", "report --by-hand"), f"exit {r.returncode}: {out[-2000:]} {job('production-web-report')}")
        check("4 a job-only change runs no hook", "hook-run" not in out, out[-2000:])

        # 5: history shows the hook steps.
        h = galley("history", "--json")
        runs = json.loads(h.stdout)["runs"] if h.returncode == 0 else []
        failed_run = next((x for x in runs if x.get("kind") == "apply" and (x.get("journal") or {}).get("failed")),
                          None)
        detail = galley("history", "--run", str((failed_run or {}).get("id", 0)))
        check("5 history lists the failed hook step", "hook-run" in detail.stdout and "production-web-migrate"
              in detail.stdout and "failed" in detail.stdout, f"{h.stdout[-1500:]}\n{detail.stdout[-1500:]}")
    except Exception:
        traceback.print_exc()
        results.append(False)
    finally:
        for p in procs:
            stop_process(p)
        if os.environ.get("GALLEY_E2E_KEEP") == "1":
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
