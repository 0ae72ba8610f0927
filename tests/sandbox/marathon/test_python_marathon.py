#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Conformance of galley-sandbox's Marathon emulator with Debian's python3-marathon (0.13).

Usage: /usr/bin/python3 test_python_marathon.py PATH/TO/galley-sandbox

Starts galley-sandbox on free ports (simulated tasks, 100 ms health delay), drives it with
the unchanged python-marathon client, then checks that every upstream request sample in
samples/ is accepted and that responses have the shapes of the upstream response samples.
Prints one PASS/FAIL line per check and "N passed, M failed"; exits non-zero on failure.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from marathon import MarathonApp, MarathonClient
from marathon.exceptions import ConflictError, MarathonHttpError, NotFoundError

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")
RESULTS = []


def check(name):
    def wrap(fn):
        try:
            fn()
            RESULTS.append(True)
            print(f"PASS {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - any failure is a FAIL line
            RESULTS.append(False)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return fn
    return wrap


def sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return json.load(f)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(pred, timeout=15.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except NotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Raw:
    """Plain HTTP for the sample checks (python-marathon has no call for some of them)."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = "application/json"
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return r.status, dict(r.getheaders()), parsed


def start_sandbox(binary, tmp):
    ready = os.path.join(tmp, "ready.json")
    log = open(os.path.join(tmp, "sandbox.log"), "w")
    proc = subprocess.Popen([binary, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                             "--health-delay", "100"], stdout=log, stderr=subprocess.STDOUT)
    end = time.time() + 15
    while time.time() < end:
        if os.path.exists(ready):
            try:
                with open(ready) as f:
                    info = json.load(f)
                return proc, info
            except ValueError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("galley-sandbox did not become ready; see " + log.name)


def stop_sandbox(proc, info):
    pid = info.get("pid", proc.pid) if info else proc.pid
    try:
        os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


def types_match(ours, theirs):
    """True when two JSON values have compatible types (int and float are both numbers)."""
    num = (int, float)
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return isinstance(theirs, bool) == isinstance(ours, bool)
    if isinstance(theirs, num):
        return isinstance(ours, num)
    return type(ours) is type(theirs)


def same_shape(ours, theirs, ignore=(), where="", optional=()):
    """Every key of `theirs` (except ignored/optional ones) is in `ours` with the same type."""
    for k, v in theirs.items():
        if k in ignore:
            continue
        if k not in ours:
            if k in optional:
                continue
            raise AssertionError(f"{where}: key {k!r} missing (have {sorted(ours)})")
        if v is not None and not types_match(ours[k], v):
            raise AssertionError(f"{where}: {k!r} is {type(ours[k]).__name__}, sample has {type(v).__name__}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="marathon-conformance-")
    proc, info = start_sandbox(binary, tmp)
    try:
        run(info["marathon_port"])
    finally:
        stop_sandbox(proc, info)
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run(port):
    url = f"http://127.0.0.1:{port}"
    c = MarathonClient(url, timeout=10)
    raw = Raw(port)
    state = {}

    def idle():
        return not c.list_deployments()

    def settled(app_id, n, healthy=True):
        if not idle():
            return False
        a = c.get_app(app_id)
        return a.tasks_running == n and len(a.tasks) == n and (not healthy or a.tasks_healthy == n)

    def set_healthy(app_id, healthy):
        s, _, body = raw.call("PUT", "/_sandbox/marathon/health", {"app": app_id, "healthy": healthy})
        expect(s == 200, f"admin health endpoint answered {s} {body}")

    @check("ping answers pong")
    def _():
        expect(c.ping() in (b"pong", b'"pong"'), c.ping())
        s, h, _ = raw.call("GET", "/ping", headers={"Accept": "text/plain"})
        expect(s == 200 and h.get("Content-Type", "").startswith("text/plain"), h)

    @check("get_info / get_leader parse")
    def _():
        i = c.get_info()
        expect(i.name == "marathon" and i.version.startswith("1."), i.version)
        expect(c.get_leader()["leader"].endswith(str(port)), c.get_leader())

    @check("create_app returns the created app with defaults")
    def _():
        app = c.create_app("/conf/web", MarathonApp(
            cmd="sleep 1000", instances=2, cpus=0.1, mem=32, labels={"env": "prod"},
            health_checks=[{"path": "/health", "gracePeriodSeconds": 1, "intervalSeconds": 1}],
            upgrade_strategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}))
        expect(isinstance(app, MarathonApp), app)
        expect(app.id == "/conf/web" and app.instances == 2, app)
        expect(app.port_definitions and app.port_definitions[0].port >= 10000, app.port_definitions)
        expect(app.max_launch_delay_seconds == 300 and app.kill_selection == "YOUNGEST_FIRST", app)
        expect(app.networks == [{"mode": "host"}], app.networks)
        state["v1"] = app.version

    @check("list_apps with embeds (app. prefix) and filters")
    def _():
        wait_for(lambda: settled("/conf/web", 2), what="2 healthy tasks")
        apps = c.list_apps(embed_tasks=True, embed_counts=True, embed_deployments=True,
                           embed_last_task_failure=True, embed_readiness=True)
        web = [a for a in apps if a.id == "/conf/web"]
        expect(web and len(web[0].tasks) == 2 and web[0].tasks_healthy == 2, apps)
        expect([a.id for a in c.list_apps(app_id="conf/W")] == ["/conf/web"], "id filter")
        expect([a.id for a in c.list_apps(label="env==prod")] == ["/conf/web"], "label filter")
        expect(c.list_apps(cmd="no-such-command") == [], "cmd filter")

    @check("get_app embeds tasks, counts, health results")
    def _():
        a = c.get_app("/conf/web", embed_tasks=True, embed_counts=True)
        expect(len(a.tasks) == 2 and a.tasks_running == 2, a)
        hc = a.tasks[0].health_check_results
        expect(hc and hc[0].alive is True, hc)
        expect(a.version_info.last_config_change_at is not None, a.version_info)

    @check("update_app with the app from get_app is a no-op")
    def _():
        before = c.get_app("/conf/web")
        version = before.version
        r = c.update_app("/conf/web", before)  # (update_app blanks before.version)
        expect("deploymentId" in r and "version" in r, r)
        expect(c.get_app("/conf/web").version == version, "version moved on a no-op")
        expect(idle(), "a no-op left a deployment running")

    @check("scale_app scales and moves only lastScalingAt")
    def _():
        before = c.get_app("/conf/web")
        r = c.scale_app("/conf/web", 3)
        expect("deploymentId" in r, r)
        wait_for(lambda: settled("/conf/web", 3), what="3 tasks")
        after = c.get_app("/conf/web")
        expect(after.instances == 3, after.instances)
        expect(after.version_info.last_config_change_at == before.version_info.last_config_change_at, "config moved")
        expect(after.version_info.last_scaling_at != before.version_info.last_scaling_at, "scaling not moved")

    @check("update_app changes config (merge keeps instances)")
    def _():
        r = c.update_app("/conf/web", MarathonApp(cmd="sleep 2000"))
        expect("deploymentId" in r, r)
        a = c.get_app("/conf/web")
        expect(a.cmd == "sleep 2000" and a.instances == 3 and a.labels == {"env": "prod"}, a)
        wait_for(lambda: settled("/conf/web", 3), what="rolling update")
        expect(all(t.version == a.version for t in c.get_app("/conf/web").tasks), "old tasks left")

    @check("restart_app replaces tasks")
    def _():
        before = {t.id for t in c.get_app("/conf/web").tasks}
        r = c.restart_app("/conf/web")
        expect("deploymentId" in r, r)
        wait_for(lambda: settled("/conf/web", 3) and not before & {t.id for t in c.get_app("/conf/web").tasks},
                 what="restarted tasks")

    @check("list_versions / get_version")
    def _():
        versions = c.list_versions("/conf/web")
        expect(len(versions) >= 4 and state["v1"] in versions, versions)
        old = c.get_version("/conf/web", state["v1"])
        expect(old.cmd == "sleep 1000" and old.instances == 2, old)

    @check("rollback_app restores a version (instances included)")
    def _():
        r = c.rollback_app("/conf/web", state["v1"])
        expect("deploymentId" in r, r)
        a = c.get_app("/conf/web")
        expect(a.cmd == "sleep 1000" and a.instances == 2, a)
        wait_for(lambda: settled("/conf/web", 2), what="rollback")

    @check("list_tasks, kill_task, kill_given_tasks, kill_tasks(scale)")
    def _():
        all_tasks = c.list_tasks()
        mine = c.list_tasks("/conf/web")
        expect(len(mine) == 2 and len(all_tasks) >= 2, (mine, all_tasks))
        killed = c.kill_task("/conf/web", mine[0].id)
        expect(killed.id == mine[0].id, killed)
        wait_for(lambda: settled("/conf/web", 2) and mine[0].id not in {t.id for t in c.list_tasks("/conf/web")},
                 what="replacement task")
        expect(c.kill_given_tasks([c.list_tasks("/conf/web")[0].id]) is True, "kill_given_tasks")
        wait_for(lambda: settled("/conf/web", 2), what="replacement after kill_given_tasks")
        r = c.kill_tasks("/conf/web", scale=True)
        expect(isinstance(r, dict) and "deploymentId" in r, r)
        wait_for(lambda: settled("/conf/web", 0), what="scaled to zero")
        expect(c.get_app("/conf/web").instances == 0, "instances")
        c.scale_app("/conf/web", 1)
        wait_for(lambda: settled("/conf/web", 1), what="scaled to one")

    @check("409 conflict while a deployment runs; force overrides")
    def _():
        c.create_app("/conf/stuck", MarathonApp(cmd="sleep 1", health_checks=[{"gracePeriodSeconds": 300}]))
        set_healthy("/conf/stuck", False)
        wait_for(lambda: c.list_deployments(), what="a running deployment")
        try:
            c.update_app("/conf/stuck", MarathonApp(cmd="sleep 2"))
            raise AssertionError("no ConflictError")
        except ConflictError as e:
            expect(e.status_code == 409 and "locked" in e.error_message, e.error_message)
        r = c.update_app("/conf/stuck", MarathonApp(cmd="sleep 3"), force=True)
        expect("deploymentId" in r, r)
        state["stuck_deployment"] = r["deploymentId"]

    @check("list_deployments parses deployment objects")
    def _():
        deps = c.list_deployments()
        d = [x for x in deps if x.id == state["stuck_deployment"]]
        expect(d and d[0].affected_apps == ["/conf/stuck"] and d[0].total_steps == 1, deps)
        expect(d[0].current_actions and d[0].current_actions[0].action == "RestartApplication", d[0].current_actions)

    @check("delete_deployment rolls back; with force answers {}")
    def _():
        r = c.delete_deployment(state["stuck_deployment"])
        expect("deploymentId" in r, r)
        expect(c.get_app("/conf/stuck").cmd == "sleep 1", "not rolled back")
        expect(c.delete_deployment(r["deploymentId"], force=True) == {}, "force delete")
        expect(all(d.id != r["deploymentId"] for d in c.list_deployments()), "still listed")

    @check("delete_app and NotFoundError afterwards")
    def _():
        r = c.delete_app("/conf/stuck", force=True)
        expect("deploymentId" in r, r)
        try:
            c.get_app("/conf/stuck")
            raise AssertionError("no NotFoundError")
        except NotFoundError as e:
            expect(e.error_message == "App '/conf/stuck' does not exist", e.error_message)

    @check("errors: 422 invalid app, 409 existing app, 404 unknown")
    def _():
        try:
            c.create_app("/conf/nocmd", MarathonApp(instances=1))
            raise AssertionError("no MarathonHttpError")
        except MarathonHttpError as e:
            expect(e.status_code == 422 and e.error_message == "Object is not valid", (e.status_code, e.error_message))
        try:
            c.create_app("/conf/web", MarathonApp(cmd="x"))
            raise AssertionError("no ConflictError")
        except ConflictError as e:
            expect(e.error_message == "An app with id [/conf/web] already exists.", e.error_message)
        try:
            c.restart_app("/conf/nope")
            raise AssertionError("no NotFoundError")
        except NotFoundError:
            pass

    @check("groups: list_groups / get_group / create_group / scale_group")
    def _():
        groups = c.list_groups()
        expect(any(g.id == "/conf" for g in groups), groups)
        g = c.get_group("/conf")
        expect(any(a.id == "/conf/web" for a in g.apps), g.apps)
        s, _, body = raw.call("POST", "/v2/groups", {"id": "/grp", "apps": [{"id": "a", "cmd": "sleep 1"}]})
        expect(s == 201 and "deploymentId" in body, (s, body))
        wait_for(idle, what="group deployed")
        r = c.scale_group("/grp", 2)
        expect("deploymentId" in r, r)
        expect(c.get_app("/grp/a").instances == 2, "scaleBy")

    @check("list_queue parses")
    def _():
        expect(c.list_queue() == [], c.list_queue())

    @check("event_stream (parsed) sees deployment_info then deployment_success")
    def _():
        wait_for(idle, what="no other deployment")
        seen = []
        attached = threading.Event()
        wanted = {}

        def listen():
            try:
                for ev in c.event_stream(event_types=["deployment_info", "deployment_success",
                                                      "event_stream_attached", "status_update_event"]):
                    if ev.event_type == "event_stream_attached":
                        attached.set()
                        continue
                    plan_id = ev.plan.id if getattr(ev, "plan", None) else getattr(ev, "id", None)
                    seen.append((ev.event_type, plan_id))
                    if ev.event_type == "deployment_success" and plan_id == wanted.get("id"):
                        break
            except Exception as e:  # noqa: BLE001
                seen.append((f"error: {e!r}", None))
            attached.set()

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        # requests' iter_lines reads 512-byte chunks, so the short attach event may only
        # surface once more events follow; give the connection a moment instead.
        attached.wait(1)
        app = c.create_app("/conf/events", MarathonApp(cmd="sleep 1"))
        wanted["id"] = app.deployments[0].id
        for n in range(2, 6):  # more traffic pushes the last events through the client's buffer
            t.join(2)
            if not t.is_alive():
                break
            c.scale_app("/conf/events", n, force=True)
        t.join(2)
        mine = [e for e, p in seen if p == wanted["id"]]
        expect("deployment_info" in mine and mine[-1] == "deployment_success", seen)
        expect(mine.index("deployment_info") < mine.index("deployment_success"), seen)
        expect(any(e == "status_update_event" for e, _ in seen), seen)

    @check("event_stream without Accept is 405")
    def _():
        s, _, _ = raw.call("GET", "/v2/events")
        expect(s == 405, s)

    # ---- request samples are accepted ----
    @check("sample app-simple.json accepted (POST 201)")
    def _():
        s, _, body = raw.call("POST", "/v2/apps", sample("app-simple.json"))
        expect(s == 201, (s, body))

    @check("sample app.json (1.4 style) accepted and answered in 1.5 form")
    def _():
        s, _, body = raw.call("POST", "/v2/apps", sample("app.json"))
        expect(s == 201, (s, body))
        expect(body["networks"] == [{"mode": "container/bridge"}], body["networks"])
        pm = body["container"]["portMappings"][0]
        expect(pm["containerPort"] == 80 and pm["servicePort"] == 10019 and pm["hostPort"] == 0, pm)
        expect("network" not in body["container"]["docker"] and "ipAddress" not in body, body)

    @check("sample app-check-http-example.json accepted")
    def _():
        s, _, body = raw.call("POST", "/v2/apps", sample("app-check-http-example.json"))
        expect(s == 201, (s, body))
        expect(body["portDefinitions"][0]["name"] == "http", body["portDefinitions"])

    @check("sample apps_create.json accepted (PUT /v2/apps)")
    def _():
        s, h, body = raw.call("PUT", "/v2/apps", sample("apps_create.json"))
        expect(s == 200 and "deploymentId" in body and h.get("Marathon-Deployment-Id") == body["deploymentId"],
               (s, body))
        deps = raw.call("GET", "/v2/deployments")[2]
        d = [x for x in deps if x["id"] == body["deploymentId"]]
        if d:  # still running: dependency order is sleep120 before sleep60
            apps = [a["app"] for step in d[0]["steps"] for a in step["actions"] if a["action"] == "ScaleApplication"]
            expect(apps == ["/test/sleep120", "/test/sleep60"], apps)

    @check("sample apps_patch.json accepted (PATCH /v2/apps)")
    def _():
        wait_for(lambda: all("/test/" not in a for d in c.list_deployments() for a in d.affected_apps),
                 what="test apps deployed")
        s, _, body = raw.call("PATCH", "/v2/apps", sample("apps_patch.json"))
        expect(s == 200 and "deploymentId" in body, (s, body))

    @check("sample app_patch.json accepted (PATCH and PUT /v2/apps/foo)")
    def _():
        wait_for(lambda: not [d for d in c.list_deployments() if "/foo" in d.affected_apps], what="/foo idle")
        s, _, body = raw.call("PATCH", "/v2/apps/foo", sample("app_patch.json"))
        expect(s == 200 and "deploymentId" in body, (s, body))
        wait_for(lambda: not [d for d in c.list_deployments() if "/foo" in d.affected_apps], what="/foo idle")
        s, _, body = raw.call("PUT", "/v2/apps/foo", sample("app_patch.json"))
        expect(s == 200, (s, body))

    @check("sample app_list.json app accepted as a request")
    def _():
        a = dict(sample("app_list.json")["apps"][0])
        for k in ("version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
                  "deployments"):
            a.pop(k)
        s, _, body = raw.call("POST", "/v2/apps", a)
        expect(s == 201, (s, body))
        expect(body["fetch"][0]["uri"].endswith("README.md") and "uris" not in body and "ports" not in body, body)

    @check("sample group.json accepted (PUT /v2/groups)")
    def _():
        s, _, body = raw.call("PUT", "/v2/groups", sample("group.json"))
        expect(s == 200 and "deploymentId" in body, (s, body))

    # ---- response shapes ----
    def ours_app(app_id):
        return raw.call("GET", "/v2/apps" + app_id)[2]["app"]

    @check("shape: app.json (bare app from /versions/{v})")
    def _():
        a = ours_app("/foo")
        s, _, bare = raw.call("GET", "/v2/apps/foo/versions/" + a["version"])
        expect(s == 200 and "tasksRunning" not in bare, s)
        # ipAddress is never emitted in 1.5+; portDefinitions are dropped with bridge networking.
        same_shape(bare, sample("app.json"), ignore=("ipAddress", "portDefinitions"), where="app")
        same_shape(bare["container"], sample("app.json")["container"], where="container")

    @check("shape: app_list.json ({apps:[...]} with counts and deployments)")
    def _():
        s, _, body = raw.call("GET", "/v2/apps?id=myapp")
        expect(s == 200 and list(body) == ["apps"] and len(body["apps"]) == 1, body)
        theirs = sample("app_list.json")["apps"][0]
        # 1.4 nulls, empties and deprecated fields are not emitted by 1.5+.
        same_shape(body["apps"][0], theirs, where="app_list",
                   ignore=("uris", "ports", "healthChecks", "dependencies", "args", "user", "container",
                           "acceptedResourceRoles"))
        expect(body["apps"][0]["deployments"] == [] or isinstance(body["apps"][0]["deployments"][0]["id"], str), body)

    @check("shape: 155_100.json (1.5+ always-present app keys)")
    def _():
        always = set.intersection(*(set(a) for a in sample("155_100.json")["apps"]))
        always -= {"constraints", "container"}  # depend on the input
        ours = raw.call("GET", "/v2/apps?id=simple")[2]["apps"][0]
        expect(always <= set(ours), always - set(ours))
        expect("version" in ours, "version")

    @check("shape: app_tasks.json / app_task.json / tasks.json")
    def _():
        wait_for(lambda: raw.call("GET", "/v2/apps/simple/tasks")[2]["tasks"], what="tasks of /simple")
        s, _, body = raw.call("GET", "/v2/apps/simple/tasks")
        expect(list(body) == ["tasks"], body)
        optional = ("region", "zone", "role")  # fault domains and 1.9+ roles are optional
        same_shape(body["tasks"][0], sample("app_tasks.json")["tasks"][0], optional=optional, where="app_tasks")
        s, _, all_tasks = raw.call("GET", "/v2/tasks")
        same_shape(all_tasks["tasks"][0], sample("tasks.json")["tasks"][0], optional=optional, where="tasks")
        victim = body["tasks"][0]["id"]
        s, _, one = raw.call("DELETE", "/v2/apps/simple/tasks/" + victim)
        expect(s == 200 and list(one) == ["task"], (s, one))
        same_shape(one["task"], sample("app_task.json")["task"], optional=optional, where="app_task")

    @check("shape: deployments.json and deployments_result.json")
    def _():
        c.create_app("/conf/hold", MarathonApp(cmd="sleep 1", health_checks=[{"gracePeriodSeconds": 300}]))
        set_healthy("/conf/hold", False)
        wait_for(lambda: [d for d in c.list_deployments() if "/conf/hold" in d.affected_apps], what="deployment")
        s, _, deps = raw.call("GET", "/v2/deployments")
        expect(isinstance(deps, list), deps)
        d = [x for x in deps if "/conf/hold" in x["affectedApps"]][0]
        theirs = sample("deployments.json")[0]
        expect(set(d) == set(theirs), set(d) ^ set(theirs))
        same_shape(d, theirs, where="deployment")
        same_shape(d["currentActions"][0], {k: v for k, v in theirs["currentActions"][0].items()}, where="action")
        s, _, r = raw.call("PUT", "/v2/apps/conf/hold?force=true", {"cmd": "sleep 5"})
        expect(set(r) == set(sample("deployments_result.json")), r)
        set_healthy("/conf/hold", True)

    @check("shape: info.json")
    def _():
        s, _, i = raw.call("GET", "/v2/info")
        theirs = sample("info.json")
        expect(set(i) == set(theirs), set(i) ^ set(theirs))
        expect(set(theirs["marathon_config"]) <= set(i["marathon_config"]), "marathon_config keys")
        expect(set(theirs["zookeeper_config"]) <= set(i["zookeeper_config"]), "zookeeper_config keys")
        same_shape(i, theirs, where="info")

    @check("shape: queue.json wrapper and group.json")
    def _():
        s, _, q = raw.call("GET", "/v2/queue")
        expect(set(q) == set(sample("queue.json")) and isinstance(q["queue"], list), q)
        s, _, g = raw.call("GET", "/v2/groups")
        same_shape(g, sample("group.json"), where="group")
        tools = [x for x in g["groups"] if x["id"] == "/tools"]
        expect(tools and "/tools/oauth-server" in [a["id"] for a in tools[0]["apps"]], g["groups"])

    @check("shape: errors_raml_examples.json bodies")
    def _():
        examples = {(e["status"], e["source"].split("/")[-1], e["body"]["message"][:20]): e["body"]
                    for e in sample("errors_raml_examples.json")["examples"]}
        s, _, body = raw.call("GET", "/v2/apps/not-existent")
        expect(s == 404 and set(body) == {"message"}, body)
        s, _, body = raw.call("POST", "/v2/apps", {"id": "/bad", "cmd": "x",
                                                   "upgradeStrategy": {"minimumHealthCapacity": 2,
                                                                       "maximumOverCapacity": 0}})
        want = [b for k, b in examples.items() if k[0] == 422 and "upgradeStrategy" in json.dumps(b)][0]
        expect(s == 422 and body == want, body)
        s, _, body = raw.call("POST", "/v2/apps", {"id": "/bad"})
        want = [b for k, b in examples.items() if "AppDefinition must" in json.dumps(b)][0]
        expect(s == 422 and body == want, body)
        s, _, body = raw.call("POST", "/v2/apps", {"id": 5, "cmd": "x"})
        want = [b for k, b in examples.items() if "error.expected.jsstring" in json.dumps(b)][0]
        expect(s == 422 and body == want, body)  # 1.5+ answers 422 for the documented 400 body
        s, _, body = raw.call("DELETE", "/v2/deployments/unknown_deployment")
        expect(s == 404 and body == {"message": "DeploymentPlan unknown_deployment does not exist"}, body)
        s, _, body = raw.call("DELETE", "/v2/apps/simple/tasks/not-existing")
        expect(s == 404 and body == {"message": "Task 'not-existing' does not exist"}, body)
        s, _, body = raw.call("GET", "/v2/no-such-route")
        expect(s == 500 and body == {"message": "URI not found"}, body)

    @check("shape: AppDefinition.json property types")
    def _():
        schema = sample("AppDefinition.json")
        kinds = {"array": list, "object": dict, "string": str, "boolean": bool, "integer": int,
                 "number": (int, float)}
        for app_id in ("/foo", "/simple", "/http-index-test", "/myapp"):
            a = ours_app(app_id)
            for k, v in a.items():
                prop = schema["properties"].get(k)
                if not prop or "type" not in prop:
                    continue
                want = kinds[prop["type"]]
                expect(isinstance(v, want) and not (prop["type"] in ("integer", "number") and isinstance(v, bool)),
                       f"{app_id} {k} is {type(v).__name__}, schema says {prop['type']}")
            expect(set(a) - set(schema["properties"]) <= {"networks", "tasks", "tasksStaged", "tasksRunning",
                                                          "tasksHealthy", "tasksUnhealthy", "deployments",
                                                          "lastTaskFailure", "gpus", "check", "tty"},
                   set(a) - set(schema["properties"]))

    @check("cleanup: delete the apps created here")
    def _():
        # Raw HTTP: app.json sets `tty`, a 1.6+ key python-marathon 0.13 cannot parse (as with
        # a real 1.6+ Marathon), so c.list_apps() would raise TypeError while /foo exists.
        for a in raw.call("GET", "/v2/apps")[2]["apps"]:
            s, _, body = raw.call("DELETE", "/v2/apps" + a["id"])
            expect(s == 200, (s, body))
        wait_for(lambda: not c.list_apps() and not c.list_tasks() and idle(), what="everything deleted")


if __name__ == "__main__":
    main()
