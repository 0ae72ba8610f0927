#!/usr/bin/env python3
"""`galley plan` as users run it: the built binary against galley-sandbox. Exit codes
(0 / 2 with --detailed-exitcode / 1), output formats (--json and --out valid against
schema/v1/plan.schema.json, --markdown, no colour when piped), GALLEY_*_URL overrides.
Usage: test_plan_cli.py GALLEY GALLEY_SANDBOX SOURCE_ROOT"""
import base64
import http.client
import json
import os
import signal
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


def main():
    work = tempfile.mkdtemp(prefix="galley-plan-cli-")
    ready = os.path.join(work, "ready.json")
    sb = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                           "--health-delay", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        ports = json.load(open(ready))
        m, c = f"http://127.0.0.1:{ports['marathon_port']}", f"http://127.0.0.1:{ports['consul_port']}"
        env = dict(os.environ, PROD_DATABASE_URL="postgres://e2e", GALLEY_MARATHON_URL=m, GALLEY_CONSUL_URL=c,
                   XDG_STATE_HOME=os.path.join(work, "xdg"))
        env.pop("GALLEY_HMAC_KEY", None)
        schema = json.load(open(os.path.join(ROOT, "schema", "v1", "plan.schema.json")))

        def plan(*args, **kw):
            return subprocess.run([GALLEY, "plan", EXAMPLE, *args], capture_output=True, text=True,
                                  env=kw.get("env", env), timeout=60)

        r = plan()
        check("plan with changes exits 0 without --detailed-exitcode", r.returncode == 0, r.stderr)
        check("endpoints from GALLEY_MARATHON_URL / GALLEY_CONSUL_URL", "8 to create" in r.stdout, r.stdout[-500:])
        check("no colour when stdout is not a terminal", "\033[" not in r.stdout)
        check("the state store went to $XDG_STATE_HOME/galley/state.db",
              os.path.exists(os.path.join(work, "xdg", "galley", "state.db")))
        r = plan("--detailed-exitcode")
        check("--detailed-exitcode exits 2 with changes", r.returncode == 2, r.returncode)
        r = plan("--json", "--out", os.path.join(work, "plan.json"))
        doc = json.loads(r.stdout)
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
        check("--json validates against schema/v1/plan.schema.json", not errors, [e.message for e in errors[:5]])
        saved = json.load(open(os.path.join(work, "plan.json")))
        check("--out writes the same plan, valid too",
              saved["actions"] == doc["actions"] and not list(jsonschema.Draft7Validator(schema).iter_errors(saved)))
        check("secrets never appear in the plan", "postgres://e2e" not in r.stdout)
        r = plan("--markdown")
        check("--markdown renders a pull-request comment", r.stdout.startswith("### galley plan: `reference`"),
              r.stdout[:200])

        # Make the platform what the plan says, by hand (apply is a later command).
        mc = http.client.HTTPConnection("127.0.0.1", ports["marathon_port"], timeout=30)
        cc = http.client.HTTPConnection("127.0.0.1", ports["consul_port"], timeout=30)
        apps = [a["desired"] for a in doc["actions"] if a["kind"] == "app-create"]
        mc.request("PUT", "/v2/apps", json.dumps(apps), {"Content-Type": "application/json"})
        resp = mc.getresponse()
        resp.read()
        check("apps created", resp.status == 200)
        ops = []
        for a in doc["actions"]:
            if a["kind"] in ("kv-put", "haproxy-model-create"):  # a model: its document, written as is
                value = a["desired"].get("value", "postgres://e2e")
                ops.append({"KV": {"Verb": "set", "Key": a["target"], "Value": base64.b64encode(value.encode()).decode()}})
        cc.request("PUT", "/v1/txn", json.dumps(ops))
        resp = cc.getresponse()
        resp.read()
        check("keys written", resp.status == 200)
        for _ in range(200):
            mc.request("GET", "/v2/deployments")
            if json.loads(mc.getresponse().read()) == []:
                break
            time.sleep(0.05)
        r = plan("--detailed-exitcode")
        check("an untouched platform plans nothing: exit 0", r.returncode == 0 and "No changes." in r.stdout,
              r.stdout[-800:] + r.stderr)

        mc.request("PUT", "/v2/apps/app/staging/api-gateway", json.dumps({"instances": 5}),
                   {"Content-Type": "application/json"})
        mc.getresponse().read()
        r = plan("--detailed-exitcode", "--no-color")
        check("a hand scale shows as a scale: exit 2", r.returncode == 2 and "~ scale marathon app /app/staging/api-gateway" in r.stdout,
              r.stdout[-800:])

        bad = dict(env, GALLEY_MARATHON_URL="http://127.0.0.1:1")
        r = plan("--detailed-exitcode", env=bad)
        check("unreachable Marathon: exit 1 naming it", r.returncode == 1 and "127.0.0.1:1" in r.stderr, r.stderr)
        r = subprocess.run([GALLEY, "plan", os.path.join(work, "nope")], capture_output=True, text=True, env=env)
        check("a missing directory: exit 1", r.returncode == 1, r.stderr)
        r = plan("--bogus")
        check("an unknown option: exit 1 with usage", r.returncode == 1 and "usage: galley plan" in r.stderr, r.stderr)
    finally:
        sb.send_signal(signal.SIGTERM)
        try:
            sb.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sb.kill()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
