#!/usr/bin/env python3
"""`galley plan --chronos` with jobs (issue #16), as users run them: the built
galley against a real galley-sandbox with --chronos-port. Jobs of the reference example and
its pre-deploy hook in the plan (text and JSON valid against schema/v1/plan.schema.json),
--skip-hooks, the warning without Chronos, Chronos down, jobs put as planned → no job
changes.
Usage: test_plan_jobs_cli.py GALLEY GALLEY_SANDBOX SOURCE_ROOT"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

import jsonschema

GALLEY, SANDBOX, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
EXAMPLE = os.path.join(ROOT, "examples", "reference")
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {str(detail)[:2000]}"), flush=True)


def chronos_post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/scheduler" + path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def main():
    work = tempfile.mkdtemp(prefix="galley-plan-jobs-")
    ready = os.path.join(work, "ready.json")
    sb = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--chronos-port", "0",
                           "--ready-file", ready], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(400):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        ports = json.load(open(ready))
        m, c = f"http://127.0.0.1:{ports['marathon_port']}", f"http://127.0.0.1:{ports['consul_port']}"
        chronos = f"http://127.0.0.1:{ports['chronos_port']}"
        env = dict(os.environ, PROD_DATABASE_URL="postgres://e2e", GALLEY_MARATHON_URL=m, GALLEY_CONSUL_URL=c,
                   XDG_STATE_HOME=os.path.join(work, "xdg"))
        for k in ("GALLEY_HMAC_KEY", "GALLEY_CHRONOS_URL", "GALLEY_CHRONOS_USER", "GALLEY_CHRONOS_PASSWORD"):
            env.pop(k, None)
        schema = json.load(open(os.path.join(ROOT, "schema", "v1", "plan.schema.json")))

        def galley(*args, **kw):
            return subprocess.run([GALLEY, *args], capture_output=True, text=True, env=kw.get("env", env),
                                  timeout=60)

        r = galley("plan", EXAMPLE)
        check("without Chronos: plan succeeds", r.returncode == 0, r.stderr)
        check("without Chronos: a warning says jobs are not planned",
              "jobs declared; no Chronos endpoint" in r.stdout and "jobs not planned" in r.stdout, r.stdout[:800])
        check("without Chronos: no job actions", "chronos job" not in r.stdout)

        r = galley("plan", EXAMPLE, "--chronos", chronos)
        check("--chronos: plan succeeds", r.returncode == 0, r.stderr)
        check("--chronos: jobs to create in the text plan",
              "+ create chronos job production-test-server-report" in r.stdout, r.stdout[:3000])
        check("--chronos: the pre-deploy hook runs before the app",
              "hook job production-test-server-migrate" in r.stdout
              and r.stdout.index("hook job production-test-server-migrate")
              < r.stdout.index("marathon app /app/production/test-server"), r.stdout[:3000])
        check("--chronos: summary counts jobs and hooks", "Jobs: " in r.stdout and "hooks: " in r.stdout,
              r.stdout[-400:])

        r = galley("plan", EXAMPLE, "--chronos", chronos, "--json")
        doc = json.loads(r.stdout)
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
        check("--json with jobs validates against the plan schema", not errors, [e.message for e in errors[:5]])
        check("--json names the Chronos endpoint and the jobs observed",
              doc["endpoints"].get("chronos") == chronos and doc["observed"].get("jobs") == 0, doc["endpoints"])
        kinds = {}
        for a in doc["actions"]:
            kinds.setdefault(a["kind"], []).append(a)
        hooks = kinds.get("hook-run", [])
        check("hook runs planned with the app they gate",
              hooks and all(h["desired"]["app"].startswith("/app/") for h in hooks), hooks)
        ids = [a["id"] for a in doc["actions"]]
        check("every dependency is an earlier action",
              all(ids.index(d) < ids.index(a["id"]) for a in doc["actions"] for d in a["depends_on"]))

        r = galley("plan", EXAMPLE, "--chronos", chronos, "--skip-hooks", "--json")
        skipped = json.loads(r.stdout)
        check("--skip-hooks: no hook runs, a warning naming them",
              not [a for a in skipped["actions"] if a["kind"] == "hook-run"]
              and any("--skip-hooks" in w and "production-test-server-migrate" in w for w in skipped["warnings"]),
              skipped["warnings"])

        r = galley("plan", EXAMPLE, "--chronos", "http://127.0.0.1:9")
        check("Chronos down: exit 1 naming Chronos' URL",
              r.returncode == 1 and "http://127.0.0.1:9" in r.stderr, (r.returncode, r.stderr[-500:]))

        # Put the jobs as planned (parents first, the plan's order), by hand.
        created = True
        for a in kinds.get("job-create", []):
            path = "/dependency" if "parents" in a["desired"] else "/iso8601"
            created = created and chronos_post(ports["chronos_port"], path, a["desired"]) == 204
        check("the planned jobs are accepted by Chronos in the plan's order", created)
        r = galley("plan", EXAMPLE, "--chronos", chronos, "--json")
        doc = json.loads(r.stdout)
        left = [a["id"] for a in doc["actions"] if a["kind"].startswith("job-")]
        check("render → create → read back: no job changes", not left, left)
        check("the jobs were observed in one more request", doc["observed"]["jobs"] == len(kinds["job-create"]),
              doc["observed"])
    finally:
        sb.terminate()
        try:
            sb.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sb.kill()
            sb.wait()
    print(f"{sum(results)}/{len(results)} passed")
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()
