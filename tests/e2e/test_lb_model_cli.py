#!/usr/bin/env python3
"""The LB model as a planned resource and the agents' reports, as users see them: the built
`galley` against a real galley-sandbox (simulated tasks). apply publishes one model per HAProxy
instance at galley/<platform>/haproxy/<instance>; the next plan is empty; a model edited by hand
through Consul's HTTP API is drift that apply reverts; a model of an instance no longer declared
is deleted; reports written by hand under galley/<platform>/agents/<node>/<instance> show in
`galley drift` and `galley plan` as in sync / pending / failed / missing agent / hand changes, with
drift's exit codes, and are recorded in the state store.
Usage: test_lb_model_cli.py GALLEY GALLEY_SANDBOX SOURCE_ROOT"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jsonschema

GALLEY, SANDBOX, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
EXAMPLE = os.path.join(ROOT, "examples", "reference")
PLATFORM = "reference"
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {str(detail)[:2500]}"), flush=True)
    return bool(cond)


def http(method, url, body=None, timeout=10):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def flat(text):
    """Text with runs of blanks made one space (the agents' columns are aligned)."""
    return " ".join(text.split())


def report(node, instance, digest, pid=4242, error="", hand_changes=()):
    """An agent's report as render/lb_model.h's AgentReportToJson writes it."""
    return json.dumps({"schema": 1, "node": node, "instance": instance, "agent_version": "e2e",
                       "model_digest": digest, "config_digest": "sha256:cfg", "haproxy_pid": pid,
                       "haproxy_started": "2026-12-07T10:00:00.000Z", "last_reload": "",
                       "last_reload_reason": "started", "servers": {"up": 2},
                       "hand_changes": list(hand_changes), "last_error": error,
                       "report_time": "2026-12-07T10:00:05.000Z"})


def main():
    work = tempfile.mkdtemp(prefix="galley-lb-model-e2e-")
    ready = os.path.join(work, "ready.json")
    log = open(os.path.join(work, "sandbox.log"), "wb")
    sb = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                           "--health-delay", "0"], stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(400):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        ports = json.load(open(ready))
        m, c = f"http://127.0.0.1:{ports['marathon_port']}", f"http://127.0.0.1:{ports['consul_port']}"
        state = os.path.join(work, "state.db")
        env = dict(os.environ, PROD_DATABASE_URL="postgres://e2e", GALLEY_MARATHON_URL=m, GALLEY_CONSUL_URL=c)
        env.pop("GALLEY_HMAC_KEY", None)
        plan_schema = json.load(open(os.path.join(ROOT, "schema", "v1", "plan.schema.json")))
        drift_schema = json.load(open(os.path.join(ROOT, "schema", "v1", "drift.schema.json")))

        def galley(*args):
            return subprocess.run([GALLEY, *args, EXAMPLE, "--state", state], capture_output=True, text=True,
                                  env=env, timeout=120)

        def kv(key):
            status, text = http("GET", f"{c}/v1/kv/{key}?raw")
            return text if status == 200 else None

        def kv_put(key, value):
            status, text = http("PUT", f"{c}/v1/kv/{key}", value)
            assert status == 200 and text.strip() == "true", (status, text)

        def kv_delete(key):
            status, _ = http("DELETE", f"{c}/v1/kv/{key}")
            assert status == 200, status

        model_key = {i: f"galley/{PLATFORM}/haproxy/{i}" for i in ("internal", "external")}

        # --- 1. the first plan publishes both models --------------------------------------
        r = galley("plan", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        errors = list(jsonschema.Draft7Validator(plan_schema).iter_errors(doc))
        check("plan --json validates against plan.schema.json (model kinds, agents)", r.returncode == 0 and not errors,
              r.stderr + str([e.message for e in errors[:5]]))
        models = {a["target"]: a for a in doc.get("actions", []) if a["kind"] == "haproxy-model-create"}
        check("the first plan publishes one model per declared HAProxy instance",
              sorted(models) == sorted(model_key.values()) and
              all(a["id"] == "haproxy-model:" + a["target"].rsplit("/", 1)[1] and a["token"] == "0" and
                  a["reason"] == "new" for a in models.values()), list(models))
        check("plan --json carries an empty agents section (no agent has reported)",
              doc.get("agents", {}).get("hosts") == [] and doc["agents"]["counts"]["missing"] == 0, doc.get("agents"))
        r = galley("plan")
        check("the text plan shows the model and the summary counts it",
              f"+ publish haproxy model internal ({model_key['internal']})   (new)" in r.stdout and
              "HAProxy models: 2 to publish, 0 to update, 0 to delete." in r.stdout, r.stdout[-1500:])

        # --- 2. apply publishes; the next plan is empty -----------------------------------
        r = galley("apply", "--auto-approve")
        check("apply exits 0", r.returncode == 0, r.stdout[-1500:] + r.stderr)
        check("apply wrote the models as KV steps", "haproxy-model-create internal: written (1 key)" in r.stdout,
              r.stdout[-1500:])
        published = {i: kv(k) for i, k in model_key.items()}
        internal = json.loads(published["internal"] or "{}")
        check("the model at galley/<platform>/haproxy/internal is the planned document",
              published["internal"] == models[model_key["internal"]]["desired"]["value"] and
              internal.get("schema") == 1 and internal.get("instance", {}).get("name") == "internal" and
              internal.get("digest", "").startswith("sha256:"), published["internal"])
        record = json.loads(kv(f"galley/{PLATFORM}/applied/_platform") or "{}")
        check("the applied record in Consul names the models by digest",
              record.get("models", {}).get("internal") == internal.get("digest"), record)
        r = galley("plan", "--detailed-exitcode")
        check("after apply the plan is empty (exit 0)", r.returncode == 0 and "No changes." in r.stdout,
              r.stdout[-1500:] + r.stderr)
        r = galley("drift", "--detailed-exitcode")
        check("after apply there is no drift (exit 0)", r.returncode == 0, r.stdout[-1500:] + r.stderr)

        # --- 3. a hand edit of the model is drift; apply reverts it ------------------------
        edited = dict(internal, maxconn=10)
        kv_put(model_key["internal"], json.dumps(edited))
        r = galley("plan", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        acts = doc.get("actions", [])
        check("a hand-edited model plans one update, reason drifted, diffed field by field",
              len(acts) == 1 and acts[0]["kind"] == "haproxy-model-update" and acts[0]["reason"] == "drifted" and
              acts[0]["changes"] == [{"path": "/maxconn", "before": 10, "after": internal["maxconn"]}],
              acts)
        r = galley("drift", "--json", "--detailed-exitcode")
        ddoc = json.loads(r.stdout) if r.stdout.startswith("{") else {}
        errors = list(jsonschema.Draft7Validator(drift_schema).iter_errors(ddoc))
        items = ddoc.get("drift", [])
        check("drift reports the hand edit (exit 2, kind haproxy_model, applied → live)",
              r.returncode == 2 and len(items) == 1 and items[0]["kind"] == "haproxy_model" and
              items[0]["resource"] == "haproxy-model:internal" and items[0]["policy"] == "revert" and
              items[0]["fields"] == [{"path": "/maxconn", "applied": internal["maxconn"], "live": 10}],
              r.stdout[-2000:] + r.stderr)
        check("drift --json validates against drift.schema.json", not errors, [e.message for e in errors[:5]])
        r = galley("apply", "--auto-approve")
        check("apply reverts the hand edit", r.returncode == 0 and kv(model_key["internal"]) == published["internal"],
              r.stdout[-1500:] + r.stderr)
        r = galley("drift", "--detailed-exitcode")
        db = sqlite3.connect(state)
        resolved = db.execute("SELECT resolution FROM drift WHERE resource = 'haproxy-model:internal'").fetchall()
        db.close()
        check("the drift is gone (exit 0), its record resolved as reverted by apply",
              r.returncode == 0 and resolved == [("reverted",)], r.stdout[-1500:] + str(resolved))

        # --- 4. the model of an instance no longer declared is deleted --------------------
        kv_put(f"galley/{PLATFORM}/haproxy/retired", published["internal"])
        r = galley("plan")
        check("a model of an undeclared instance plans a delete",
              f"- delete haproxy model retired (galley/{PLATFORM}/haproxy/retired)   (orphan)" in r.stdout,
              r.stdout[-1500:])
        r = galley("apply", "--auto-approve")
        check("apply deletes it", r.returncode == 0 and kv(f"galley/{PLATFORM}/haproxy/retired") is None,
              r.stdout[-1500:] + r.stderr)
        r = galley("plan", "--detailed-exitcode")
        check("and plans nothing after", r.returncode == 0, r.stdout[-800:])

        # --- 5. agents' reports -----------------------------------------------------------
        status, text = http("GET", f"{m}/v2/apps?embed=apps.tasks")
        hosts = sorted({t["host"] for a in json.loads(text)["apps"] for t in a.get("tasks", [])})
        check("the sandbox runs tasks on some host", status == 200 and hosts, text[:300])
        digest = {i: json.loads(published[i])["digest"] for i in published}
        agents = f"galley/{PLATFORM}/agents"
        for h in hosts:
            kv_put(f"{agents}/{h}/internal", report(h, "internal", digest["internal"]))
        kv_put(f"{agents}/lb-1/external", report("lb-1", "external", digest["external"]))
        r = galley("drift", "--detailed-exitcode")
        check("agents running the published models: in sync, no drift (exit 0)",
              r.returncode == 0 and f"{hosts[0]}/internal" in r.stdout and "in sync" in r.stdout and
              "Agents (" + str(len(hosts) + 1) + " in sync, 0 pending, 0 failed, 0 missing, 0 hand changes)"
              in r.stdout, r.stdout[-1500:] + r.stderr)

        kv_put(f"{agents}/lb-1/external", report("lb-1", "external", "sha256:0ld"))
        r = galley("drift", "--detailed-exitcode")
        check("an agent on an older model is pending, not drift (exit 0)",
              r.returncode == 0 and "lb-1/external pending runs model sha256:0ld, published " in flat(r.stdout),
              r.stdout[-1500:])

        kv_put(f"{agents}/lb-1/external",
               report("lb-1", "external", digest["external"], error="haproxy -c refused the config"))
        r = galley("drift", "--detailed-exitcode")
        check("an agent whose config was refused is failed (exit 2), with the error",
              r.returncode == 2 and "lb-1/external failed haproxy -c refused the config" in flat(r.stdout) and
              "Agents: 1 failed, 0 missing, 0 hand changes." in r.stdout, r.stdout[-1500:])

        kv_put(f"{agents}/lb-1/external", report("lb-1", "external", digest["external"], pid=0))
        r = galley("drift", "--detailed-exitcode")
        check("HAProxy not running is failed (exit 2)",
              r.returncode == 2 and "lb-1/external failed HAProxy is not running" in flat(r.stdout), r.stdout[-1500:])

        kv_put(f"{agents}/lb-1/external", report("lb-1", "external", digest["external"],
                                                 hand_changes=["be_external/lb-1-31000 maint"]))
        r = galley("drift", "--json", "--detailed-exitcode")
        ddoc = json.loads(r.stdout) if r.stdout.startswith("{") else {}
        errors = list(jsonschema.Draft7Validator(drift_schema).iter_errors(ddoc))
        lb = [h for h in ddoc.get("agents", {}).get("hosts", []) if h["node"] == "lb-1"]
        check("a server put in maint by hand is drift (exit 2), in the JSON agents section",
              r.returncode == 2 and not errors and ddoc["counts"]["agent_problems"] == 1 and
              ddoc["agents"]["counts"]["hand_changes"] == 1 and lb and lb[0]["state"] == "in sync" and
              lb[0]["hand_changes"] == ["be_external/lb-1-31000 maint"],
              r.stdout[-2000:] + str([e.message for e in errors[:5]]))
        r = galley("drift")
        check("... and in the text", "hand change: be_external/lb-1-31000 maint" in r.stdout, r.stdout[-1500:])

        kv_put(f"{agents}/lb-1/external", "{this is not a report")
        r = galley("drift", "--detailed-exitcode")
        check("an unreadable report is a problem for that host (exit 2), not a crash",
              r.returncode == 2 and "lb-1/external failed the report cannot be read" in flat(r.stdout),
              r.stdout[-1500:] + r.stderr)

        kv_delete(f"{agents}/lb-1/external")
        r = galley("drift", "--detailed-exitcode")
        check("an agent whose report vanished is a missing agent (exit 2)",
              r.returncode == 2 and "lb-1/external missing agent no report now" in flat(r.stdout), r.stdout[-1500:])

        r = galley("plan", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        errors = list(jsonschema.Draft7Validator(plan_schema).iter_errors(doc))
        states = {(h["node"], h["instance"]): h["state"] for h in doc.get("agents", {}).get("hosts", [])}
        check("plan --json shows the agents too (valid against the schema)",
              not errors and states.get(("lb-1", "external")) == "missing agent" and
              states.get((hosts[0], "internal")) == "in sync" and doc["actions"] == [],
              str(states) + str([e.message for e in errors[:5]]))
        r = galley("plan", "--detailed-exitcode")
        check("the text plan ends with the Agents section, and agents change nothing to plan (exit 0)",
              r.returncode == 0 and "\nAgents (" in r.stdout and "No changes." in r.stdout, r.stdout[-1500:])
        out = os.path.join(work, "plan.json")
        r = galley("plan", "--out", out)
        check("--out saves a plan without the agents section",
              r.returncode == 0 and "agents" not in json.load(open(out)), r.stderr)

        db = sqlite3.connect(state)
        # The newest observation of each resource (observations keeps only the changes).
        rows = db.execute("SELECT resource, body FROM observation_heads WHERE resource LIKE 'agent-report:%' "
                          "ORDER BY resource").fetchall()
        db.close()
        check("the reports are recorded in the state store as observations",
              any(res == f"agent-report:{PLATFORM}/{hosts[0]}/internal" and json.loads(body)["node"] == hosts[0]
                  for res, body in rows), rows[:3])
    finally:
        if sb.poll() is None:
            sb.send_signal(signal.SIGTERM)
            try:
                sb.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sb.kill()
                sb.wait(timeout=10)
        log.close()
        if all(results) and not os.environ.get("GALLEY_E2E_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work, flush=True)
    print(f"{sum(results)}/{len(results)} checks passed", flush=True)
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
