#!/usr/bin/env python3
"""Operations end to end: failed deploys held, `galley status`, `galley restart` — the built
binaries against a real galley-sandbox on loopback (simulated tasks, health after 3 s so a
1 s deadline fails a deploy and a default one does not). Helpers come from test_apply_cli.py.

  O1 status before anything: every row pending, not deployed; --json validates; no run recorded.
  O2 after the first apply: every row in sync, healthy = wanted; a hand scale shows as drifted.
  O3 a deploy that fails its deadline: plan (text, JSON) and status show the failure (when,
     why, run); the next apply holds the identical change back and applies the rest (exit 5);
     a saved plan with it is refused whole;
     --retry-failed retries it; a changed tag after another failure is applied without the flag.
  O4 status while a deployment runs: deploying.
  O5 restart: refused without --auto-approve and no terminal; --dry-run calls POST .../restart;
     a restart replaces every task, keeps the definition, is journaled and in history, and the
     plan afterwards is empty; an unknown service is an error.

Usage: test_ops_cli.py GALLEY GALLEY_SANDBOX GALLEY_TESTSERVER GALLEY_WRAPPER SOURCE_ROOT"""
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_apply_cli as t  # noqa: E402  (reads the same argv)

try:
    import jsonschema
except ImportError:  # the schema checks are skipped, the rest still runs
    jsonschema = None

HEALTH_MS = "3000"
GW = "/app/staging/api-gateway"
TS = "/app/staging/test-server"
check = t.check


def schema_errors(doc, name):
    if jsonschema is None:
        return []
    schema = json.load(open(os.path.join(t.ROOT, "schema", "v1", name)))
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)][:5]


def status_json(g, repo, *args):
    r = g.run("status", repo.dir, "--json", *args)
    if r.returncode != 0:
        raise RuntimeError(f"galley status --json: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def row(doc, app):
    return next(s for s in doc["services"] if s["app"] == app)


def image(sb, app):
    return sb.app(app)["container"]["docker"]["image"]


def group_o(work):
    sb = t.Sandbox(work, "sandbox-o", "--health-delay", HEALTH_MS)
    deploying = None
    try:
        g = t.Galley(sb, work, "o.db")
        repo = t.Repo(work, "repo-o", git=True)

        # O1 -----------------------------------------------------------------------------
        runs_before = len(g.history()["runs"])
        r = g.run("status", repo.dir)
        check("O1 status exits 0", r.returncode == 0, r.stderr)
        check("O1 text: a header and one line per service and environment",
              "SERVICE" in r.stdout and "DEPLOYING" in r.stdout
              and r.stdout.count("(not deployed)") == len(t.REFERENCE_APPS),
              r.stdout)
        doc = status_json(g, repo)
        check("O1 --json validates against schema/v1/status.schema.json", not schema_errors(doc, "status.schema.json"),
              schema_errors(doc, "status.schema.json"))
        check("O1 every row pending, not live", sorted(s["app"] for s in doc["services"]) == t.REFERENCE_APPS and
              all(s["state"] == "pending" and not s["live"] for s in doc["services"]), doc["services"])
        check("O1 status records no run", len(g.history()["runs"]) == runs_before, g.history()["runs"][:3])

        # O2 -----------------------------------------------------------------------------
        r = g.run("apply", repo.dir, "--auto-approve")
        check("O2 first apply exits 0", r.returncode == 0, r.stderr + r.stdout[-1500:])
        doc = status_json(g, repo)
        check("O2 every row in sync and healthy", all(
            s["state"] == "in sync" and s["instances"]["healthy"] == s["instances"]["wanted"] == s["instances"]["desired"]
            and not s["deploying"] for s in doc["services"]), doc["services"])
        check("O2 the live tag", row(doc, GW)["live_tag"] == "v2.15.0-rc1-b820", row(doc, GW))
        sb.scale_by_hand("/app/production/test-server", 5)
        doc = status_json(g, repo)
        prod = row(doc, "/app/production/test-server")
        check("O2 a hand scale is drifted", prod["state"] == "drifted" and prod["instances"]["wanted"] == 5
              and prod["instances"]["desired"] == 4, prod)
        r = g.run("apply", repo.dir, "--auto-approve")
        check("O2 apply reverts it", r.returncode == 0, r.stderr + r.stdout[-800:])
        sb.wait_settled(30)

        # O3 -----------------------------------------------------------------------------
        repo.edit("services/api-gateway.yaml", "tag: v2.15.0-rc1-b820", "tag: v2.15.0-rc2-b821")
        r = g.run("apply", repo.dir, "--auto-approve", "--deadline", "1s")
        check("O3 a deploy that misses its deadline fails the apply (exit 1)",
              r.returncode == 1 and t.summary_counts(r.stdout) == (0, 1, 0), f"exit {r.returncode}: {r.stdout[-1500:]}")
        failed_run = g.last_run()["id"]
        sb.wait_settled(30)
        check("O3 Marathon rolled the app back", image(sb, GW).endswith(":v2.15.0-rc1-b820"), image(sb, GW))

        r = g.run("plan", repo.dir)
        check("O3 plan shows the failure under the action (when, why, run)",
              "last failed: the same change failed at 20" in r.stdout and f"in run {failed_run}:" in r.stdout
              and "not healthy within 1s" in r.stdout and "--retry-failed" in r.stdout, r.stdout[-2000:])
        plan = g.plan_json(repo)
        action = next(a for a in plan["actions"] if a["target"] == GW)
        check("O3 plan --json carries last_failure", action.get("last_failure", {}).get("run") == failed_run
              and "not healthy" in action["last_failure"]["error"], action.get("last_failure"))
        check("O3 plan --json still validates", not schema_errors(plan, "plan.schema.json"),
              schema_errors(plan, "plan.schema.json"))
        r = g.run("plan", repo.dir, "--markdown")
        check("O3 plan --markdown shows it too", "failed before" in r.stdout and "last failed:" in r.stdout,
              r.stdout[-1500:])
        doc = status_json(g, repo)
        check("O3 status: failed, with the failure", row(doc, GW)["state"] == "failed"
              and row(doc, GW)["last_failure"]["run"] == failed_run, row(doc, GW))

        version = sb.app(GW)["version"]
        sb.scale_by_hand("/app/production/test-server", 5)  # something else to apply meanwhile
        r = g.run("apply", repo.dir, "--auto-approve")
        check("O3 apply holds the identical change back: exit 5", r.returncode == 5, f"exit {r.returncode}: {r.stderr}")
        check("O3 ... saying which, when, why and how to retry",
              "not retrying a change that failed to deploy" in r.stderr and f"in run {failed_run}:" in r.stderr
              and "--retry-failed" in r.stderr, r.stderr)
        check("O3 ... sends nothing for it", sb.app(GW)["version"] == version, sb.app(GW)["version"])
        check("O3 ... and applies the rest (the hand scale reverted)",
              sb.app("/app/production/test-server")["instances"] == 4 and t.summary_counts(r.stdout) == (1, 0, 0),
              r.stdout[-1500:])
        held = g.last_run()
        check("O3 ... recorded as partial, with what was held", held["outcome"] == "partial"
              and (held.get("summary") or {}).get("retry_refused"), held)
        r = g.run("apply", repo.dir, "--auto-approve")
        check("O3 with only the held change left: exit 5, nothing applied",
              r.returncode == 5 and "nothing applied" in r.stderr and sb.app(GW)["version"] == version,
              f"exit {r.returncode}: {r.stderr}")
        refused = g.last_run()
        check("O3 ... recorded as failed, refused", refused["outcome"] == "failed"
              and (refused.get("summary") or {}).get("retry_refused"), refused)
        r = g.run("plan", repo.dir, "--out", os.path.join(work, "held.plan"))
        r = g.run("apply", os.path.join(work, "held.plan"))
        check("O3 a saved plan with the failed change is refused whole: exit 5",
              r.returncode == 5 and "not retrying" in r.stderr, f"exit {r.returncode}: {r.stderr}")
        r = g.run("apply", repo.dir, "--auto-approve", "--json")
        check("O3 apply --json refusal: exit 5 and a JSON answer",
              r.returncode == 5 and json.loads(r.stdout).get("retry_refused"), f"exit {r.returncode}: {r.stdout}")

        r = g.run("apply", repo.dir, "--auto-approve", "--retry-failed")
        check("O3 --retry-failed retries it (exit 0)", r.returncode == 0 and "(--retry-failed)" in r.stdout,
              f"exit {r.returncode}: {r.stderr}{r.stdout[-1500:]}")
        check("O3 ... and it is deployed", image(sb, GW).endswith(":v2.15.0-rc2-b821"), image(sb, GW))
        r = g.run("plan", repo.dir, "--detailed-exitcode")
        check("O3 then nothing is left to do", r.returncode == 0, r.stdout[-1500:])

        repo.edit("services/api-gateway.yaml", "tag: v2.15.0-rc2-b821", "tag: v2.15.0-rc3-b822")
        r = g.run("apply", repo.dir, "--auto-approve", "--deadline", "1s")
        check("O3 another failed deploy (rc3)", r.returncode == 1, f"exit {r.returncode}: {r.stdout[-800:]}")
        sb.wait_settled(30)
        repo.edit("services/api-gateway.yaml", "tag: v2.15.0-rc3-b822", "tag: v2.15.0-rc4-b823")

        # O4: status while the changed tag deploys ----------------------------------------
        deploying = t.Streamed(g.argv("apply", repo.dir, "--auto-approve"), g.env)
        seen = deploying.wait_for(r"api-gateway: deployment step", 20)
        check("O4 the apply of the changed tag is deploying", seen, deploying.stdout()[-800:] + deploying.stderr())
        doc = status_json(g, repo)
        check("O4 status: deploying", row(doc, GW)["deploying"] and row(doc, GW)["deployments"], row(doc, GW))
        rc = deploying.finish(60)
        check("O3 a changed tag is applied without --retry-failed", rc == 0 and
              image(sb, GW).endswith(":v2.15.0-rc4-b823"), f"exit {rc}: {deploying.stdout()[-1500:]}")
        doc = status_json(g, repo)
        check("O3 status in sync again", row(doc, GW)["state"] == "in sync" and "last_failure" not in row(doc, GW),
              row(doc, GW))

        # O5 -----------------------------------------------------------------------------
        r = g.run("restart", "test-server", repo.dir, "--env", "staging")
        check("O5 restart without --auto-approve and no terminal: exit 1, nothing restarted",
              r.returncode == 1 and "--auto-approve" in r.stderr and
              "± restart marathon app /app/staging/test-server   (requested)" in r.stdout, r.stdout + r.stderr)
        r = g.run("restart", "test-server", repo.dir, "--env", "staging", "--dry-run")
        check("O5 restart --dry-run names Marathon's restart call",
              r.returncode == 0 and "POST /v2/apps/app/staging/test-server/restart" in r.stdout, r.stdout[-1500:])
        before = sb.app(TS)
        tasks_before = {x["id"] for x in before["tasks"]}
        prod_tasks = {x["id"] for x in sb.app("/app/production/test-server")["tasks"]}
        r = g.run("restart", "--env", "staging", "test-server", repo.dir, "--auto-approve")
        check("O5 restart --auto-approve exits 0", r.returncode == 0, f"exit {r.returncode}: {r.stderr}{r.stdout[-1500:]}")
        check("O5 ... shows the plan with the upgrade strategy",
              "minimumHealthCapacity 0.5, maximumOverCapacity 0.5" in r.stdout and "1 applied" in r.stdout,
              r.stdout[-1500:])
        after = sb.app(TS)
        tasks_after = {x["id"] for x in after["tasks"]}
        check("O5 every task replaced, healthy", tasks_after and not (tasks_before & tasks_after)
              and after["tasksHealthy"] == after["instances"] == before["instances"], (tasks_before, tasks_after))
        check("O5 the definition is unchanged, the version moved",
              after["version"] != before["version"] and after["container"] == before["container"]
              and after["labels"] == before["labels"], (before["version"], after["version"]))
        check("O5 production was not restarted (--env staging)",
              {x["id"] for x in sb.app("/app/production/test-server")["tasks"]} == prod_tasks, prod_tasks)
        run = g.last_run()
        check("O5 history: an apply run that says restart", (run.get("summary") or {}).get("restart") == "test-server"
              and run["outcome"] == "ok", run)
        journal = g.history("--run", str(run["id"]))["journal"]
        check("O5 history --run: one journaled restart step", [(j["kind"], j["state"], j["resource"]) for j in journal]
              == [("restart", "succeeded", "marathon-app:" + TS)], journal)
        r = g.run("history")
        check("O5 history text names the restart", "restart test-server:" in r.stdout, r.stdout[:1500])
        r = g.run("plan", repo.dir, "--detailed-exitcode")
        check("O5 after a restart the plan is empty (no drift, nothing recorded wrongly)", r.returncode == 0,
              r.stdout[-1500:])
        r = g.run("restart", "no-such-service", repo.dir, "--auto-approve")
        check("O5 an unknown service: exit 1, named", r.returncode == 1 and "no-such-service" in r.stderr, r.stderr)
        r = g.run("restart", "--env", "staging")
        check("O5 no service: exit 1, said so", r.returncode == 1 and "name the service to restart" in r.stderr,
              r.stderr)
    finally:
        if deploying:
            t.stop_process(deploying.proc, 5)
        sb.stop()


def main():
    work = tempfile.mkdtemp(prefix="galley-ops-cli-")
    t0 = time.monotonic()
    try:
        print("--- O: failed deploys, status, restart", flush=True)
        try:
            group_o(work)
        except Exception as e:
            traceback.print_exc()
            check("O ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        for p in t.procs:
            t.stop_process(p, 10)
        if os.environ.get("GALLEY_E2E_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"time {time.monotonic() - t0:5.1f} s")
    passed = sum(t.results)
    print(f"{passed} passed, {len(t.results) - passed} failed")
    return 0 if t.results and passed == len(t.results) else 1


if __name__ == "__main__":
    sys.exit(main())
