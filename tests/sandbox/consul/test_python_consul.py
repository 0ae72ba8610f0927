#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Conformance of galley-sandbox's Consul emulator with Debian's python3-consul (0.7.1).

Usage: /usr/bin/python3 test_python_consul.py PATH/TO/galley-sandbox

Starts galley-sandbox on free ports (--ready-file), drives it with the unchanged `consul`
client (KV, blocking reads, sessions and locks, agent services with a real HTTP check,
catalog, health, status), exercises /v1/txn over plain HTTP (python-consul has none),
POSTs/PUTs every request sample in samples/ and compares response shapes (key sets and
JSON value types) with the response samples. Prints one PASS/FAIL line per check and a
final "N passed, M failed"; exits non-zero on any failure. The sandbox processes are
always stopped. Bounded: a watchdog aborts the run after 100 s.
"""

import base64
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

for var in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import consul  # noqa: E402  (Debian's python3-consul, used unchanged)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")
PROCS = []
RESULTS = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
        RESULTS["failed"] += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
    else:
        RESULTS["passed"] += 1
        print("PASS %s" % name, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def eventually(pred, timeout=6.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    expect(pred(), "timed out waiting for " + what)


def sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return f.read()


# ---- Sandbox process ----------------------------------------------------------------------

def start_sandbox(binary, extra=()):
    tmp = tempfile.mkdtemp(prefix="consul-conformance-")
    ready = os.path.join(tmp, "ready.json")
    log = open(os.path.join(tmp, "sandbox.log"), "w")
    proc = subprocess.Popen([binary, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready] + list(extra),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    PROCS.append(proc)
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("galley-sandbox exited with %d (log in %s)" % (proc.returncode, log.name))
        try:
            with open(ready) as f:
                info = json.load(f)
            return proc, info["consul_port"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise RuntimeError("galley-sandbox did not become ready (log in %s)" % log.name)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_all():
    for proc in PROCS:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---- Raw HTTP -------------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def raw(port, method, path, body=None, headers=None):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers=headers or {})
    try:
        with OPENER.open(req, timeout=15) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# ---- Shape comparison ------------------------------------------------------------------------

# Objects whose keys are data (service names, IDs, metadata), not a fixed field set.
DYNAMIC = {"Meta", "NodeMeta", "ServiceMeta", "TaggedAddresses", "ServiceTaggedAddresses", "Tags", "Stats",
           "Services", "Header"}
# Fields the reference marks as present only sometimes (omitempty).
OPTIONAL = {"Session", "TaggedAddresses", "ServiceTaggedAddresses", "Namespace"}


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def shape_problems(want, got, path="$", dynamic=False):
    """Every key of `want` must be in `got` with a compatible JSON type (null is compatible
    with anything: the reference allows null or a value for Value, Meta, ...)."""
    kw, kg = kind(want), kind(got)
    if kw == "null" or kg == "null":
        return []
    if kw != kg:
        return ["%s: %s in the sample, %s here" % (path, kw, kg)]
    problems = []
    if kw == "object":
        if dynamic:
            proto = next(iter(want.values()), None)
            for k, v in got.items():
                if proto is not None:
                    problems += shape_problems(proto, v, "%s.%s" % (path, k))
            return problems
        for k, v in want.items():
            if k not in got:
                if k not in OPTIONAL:
                    problems.append("%s: missing %s" % (path, k))
                continue
            problems += shape_problems(v, got[k], "%s.%s" % (path, k), k in DYNAMIC)
    elif kw == "array" and want:
        for i, item in enumerate(got):
            # Compare with the sample element of the same kind carrying the most keys.
            protos = [w for w in want if kind(w) == kind(item)] or want
            proto = max(protos, key=lambda w: len(w) if isinstance(w, dict) else 0)
            problems += shape_problems(proto, item, "%s[%d]" % (path, i))
    return problems


def expect_shape(sample_name, got, dynamic=False):
    want = json.loads(sample(sample_name))
    problems = shape_problems(want, got, dynamic=dynamic)
    expect(not problems, "shape differs from %s: %s" % (sample_name, "; ".join(problems[:5])))


# ---- The checks ----------------------------------------------------------------------------------

class HealthTarget(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"status %d" % HealthTarget.status
        self.send_response(HealthTarget.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(binary):
    _, port = start_sandbox(binary)
    c = consul.Consul(host="127.0.0.1", port=port)
    c2 = consul.Consul(host="127.0.0.1", port=port)

    # ---- KV
    def kv_put_get():
        expect(c.kv.put("conf/a", b"1") is True, "put returns True")
        index, item = c.kv.get("conf/a")
        expect(isinstance(index, str) and int(index) >= 1, "index is a numeric string")
        expect(item["Value"] == b"1" and item["Key"] == "conf/a" and item["Flags"] == 0, item)
        expect(item["CreateIndex"] == item["ModifyIndex"] == int(index), item)
    check("kv.put/get", kv_put_get)

    def kv_flags_empty_missing():
        expect(c.kv.put("conf/flags", "x", flags=42), "put with flags")
        expect(c.kv.get("conf/flags")[1]["Flags"] == 42, "flags stored")
        expect(c.kv.put("conf/empty", ""), "put empty")
        expect(c.kv.get("conf/empty")[1]["Value"] is None, "empty value reads as None")
        index, item = c.kv.get("conf/missing")
        expect(item is None and int(index) >= 1, "missing key gives (index, None)")
        expect(c.kv.put("odd key?&=", b"v"), "put odd key")
        expect(c.kv.get("odd key?&=")[1]["Key"] == "odd key?&=", "odd key round-trips")
    check("kv flags, empty value, missing key, encoded key", kv_flags_empty_missing)

    def kv_recurse_keys():
        for k in ("web/", "web/foo", "web/bar", "web/subdir/x"):
            c.kv.put(k, k.encode() if k != "web/" else None)
        index, items = c.kv.get("web/", recurse=True)
        expect([i["Key"] for i in items] == ["web/", "web/bar", "web/foo", "web/subdir/x"], items)
        expect(int(index) == max(i["ModifyIndex"] for i in items), "recurse index is the max ModifyIndex")
        _, _, body = raw(port, "GET", "/v1/kv/web/?recurse")  # the wire JSON (python decodes Value)
        expect_shape("kv-recurse.json", json.loads(body))
        _, keys = c.kv.get("web/", keys=True, separator="/")
        expect(keys == json.loads(sample("kv-keys.json")), keys)
        _, keys = c.kv.get("web/", keys=True)
        expect(len(keys) == 4, keys)
    check("kv.get recurse / keys+separator (kv-recurse.json, kv-keys.json)", kv_recurse_keys)

    def kv_cas():
        _, item = c.kv.get("conf/a")
        mi = item["ModifyIndex"]
        expect(c.kv.put("conf/a", b"2", cas=0) is False, "cas=0 on an existing key fails")
        expect(c.kv.put("conf/a", b"2", cas=mi + 100) is False, "stale cas fails")
        expect(c.kv.put("conf/a", b"2", cas=mi) is True, "matching cas succeeds")
        expect(c.kv.put("conf/new", b"n", cas=0) is True, "cas=0 creates")
        expect(c.kv.get("conf/a")[1]["Value"] == b"2", "value written")
        expect(c.kv.delete("conf/a", cas=mi) is False, "stale delete-cas fails")
    check("kv cas", kv_cas)

    def kv_delete_recurse():
        expect(c.kv.delete("web/", recurse=True) is True, "delete recurse")
        index, items = c.kv.get("web/", recurse=True)
        expect(items is None and int(index) >= 1, "prefix is gone")
        expect(c.kv.delete("conf/nothing") is True, "deleting a missing key is fine")
    check("kv.delete recurse", kv_delete_recurse)

    def kv_blocking():
        c.kv.put("block/k", b"v1")
        index, _ = c.kv.get("block/k")
        timer = threading.Timer(0.3, lambda: c2.kv.put("block/k", b"v2"))
        start = time.monotonic()
        timer.start()
        new_index, item = c.kv.get("block/k", index=index, wait="5s")
        took = time.monotonic() - start
        timer.join()
        expect(took < 3, "woken by the write after %.2fs" % took)
        expect(int(new_index) > int(index) and item["Value"] == b"v2", (new_index, item))
        start = time.monotonic()
        same, _ = c.kv.get("block/k", index=new_index, wait="1s")
        took = time.monotonic() - start
        expect(0.9 <= took < 3 and same == new_index, "timed out at wait with the same index (%.2fs)" % took)
    check("kv.get blocking index+wait", kv_blocking)

    # ---- Sessions and locks
    state = {}

    def sessions():
        sid = c.session.create(name="galley-lock", ttl=10, lock_delay=0)
        state["sid"] = sid
        index, info = c.session.info(sid)
        expect(info["ID"] == sid and info["Name"] == "galley-lock" and info["TTL"] == "10s", info)
        expect(info["LockDelay"] == 0 and info["Behavior"] == "release", info)
        expect_shape("session-info.json", [info])
        renewed = c.session.renew(sid)
        expect(renewed["ID"] == sid, renewed)
        _, listed = c.session.list()
        expect(any(s["ID"] == sid for s in listed), "listed")
        _, on_node = c.session.node("sandbox")
        expect(any(s["ID"] == sid for s in on_node), "listed on its node")
    check("session.create/info/renew/list/node (session-info.json)", sessions)

    def locks():
        sid = state["sid"]
        other = c.session.create(name="other")
        expect(c.kv.put("galley/lock", b"me", acquire=sid) is True, "acquire")
        expect(c.kv.put("galley/lock", b"you", acquire=other) is False, "held by another session")
        _, item = c.kv.get("galley/lock")
        expect(item["Session"] == sid and item["LockIndex"] == 1, item)
        _, _, body = raw(port, "GET", "/v1/kv/galley/lock")
        expect_shape("kv-get.json", json.loads(body))
        expect(c.kv.put("galley/lock", b"", release=other) is False, "release by a non-holder")
        expect(c.kv.put("galley/lock", b"free", release=sid) is True, "release")
        _, item = c.kv.get("galley/lock")
        expect("Session" not in item and item["Value"] == b"free", item)
        try:
            c.kv.put("galley/lock", b"x", acquire="00000000-0000-0000-0000-000000000000")
            raise AssertionError("acquire with an unknown session must fail")
        except consul.ConsulException as e:
            expect("invalid session" in str(e), str(e))
        c.session.destroy(other)
    check("kv.put acquire/release (kv-get.json)", locks)

    def session_destroy():
        sid = state["sid"]
        expect(c.kv.put("galley/lock", b"me", acquire=sid), "acquire again")
        expect(c.session.destroy(sid) is True, "destroy")
        index, info = c.session.info(sid)
        expect(info is None, "destroyed session is gone")
        expect("Session" not in c.kv.get("galley/lock")[1], "destroy released the lock")
        try:
            c.session.renew(sid)
            raise AssertionError("renew of a destroyed session must raise NotFound")
        except consul.NotFound:
            pass
        eph = c.session.create(behavior="delete", lock_delay=0)
        expect(c.kv.put("eph/key", b"x", acquire=eph), "acquire ephemeral")
        c.session.destroy(eph)
        expect(c.kv.get("eph/key")[1] is None, "behavior=delete deleted the key")
    check("session.destroy releases / deletes", session_destroy)

    # ---- Agent, catalog, health with a real HTTP check
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthTarget)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/healthcheck" % target.server_address[1]
    try:
        def agent_register():
            ok = c.agent.service.register("web", service_id="web1", address="127.0.0.1",
                                          port=target.server_address[1], tags=["production", "internal-listen-http-3000"],
                                          check=consul.Check.http(url, "1s", timeout="1s"))
            expect(ok is True, "register returns True")
            services = c.agent.services()
            expect(services["web1"]["Service"] == "web" and services["web1"]["Port"] == target.server_address[1],
                   services)
            expect_shape("agent-services.json", services, dynamic=True)
        check("agent.service.register/services (agent-services.json)", agent_register)

        def catalog_reads():
            index, services = c.catalog.services()
            expect(sorted(services["web"]) == ["internal-listen-http-3000", "production"], services)
            expect("consul" in services, services)
            expect_shape("catalog-services.json", services, dynamic=True)
            _, nodes = c.catalog.service("web", tag="production")
            expect(len(nodes) == 1 and nodes[0]["ServiceID"] == "web1", nodes)
            expect_shape("catalog-service.json", nodes)
            _, none = c.catalog.service("web", tag="staging")
            expect(none == [], none)
            _, nodes = c.catalog.nodes()
            expect_shape("catalog-nodes.json", nodes)
            _, node = c.catalog.node("sandbox")
            expect("web1" in node["Services"], node)
            expect_shape("catalog-node.json", node)
            expect(c.catalog.node("ghost")[1] is None, "unknown node gives None")
        check("catalog.services/service(tag)/nodes/node (catalog-*.json)", catalog_reads)

        def health_flips():
            eventually(lambda: len(c.health.service("web", passing=True)[1]) == 1, what="check passing")
            _, entries = c.health.service("web", passing=True, tag="production")
            expect(len(entries) == 1, entries)
            check_ids = [ch["CheckID"] for ch in entries[0]["Checks"]]
            expect(sorted(check_ids) == ["serfHealth", "service:web1"], check_ids)
            expect_shape("health-service.json", entries)
            _, checks = c.health.checks("web")
            expect(checks[0]["Status"] == "passing" and "200 OK" in checks[0]["Output"], checks)
            expect_shape("health-checks.json", checks)
            HealthTarget.status = 500
            eventually(lambda: c.health.service("web", passing=True)[1] == [], what="check critical")
            _, checks = c.health.checks("web")
            expect(checks[0]["Status"] == "critical", checks)
            expect(len(c.health.service("web")[1]) == 1, "still listed without passing")
            HealthTarget.status = 200
        check("health.service(passing, tag) follows a real HTTP check (health-*.json)", health_flips)

        def ttl_check():
            expect(c.agent.service.register("worker", check=consul.Check.ttl("10s")), "register ttl service")
            expect(c.health.checks("worker")[1][0]["Status"] == "critical", "new checks start critical")
            expect(c.agent.check.ttl_pass("service:worker", "alive") is True, "ttl_pass (GET)")
            _, checks = c.health.checks("worker")
            expect(checks[0]["Status"] == "passing" and checks[0]["Output"] == "alive", checks)
            expect(c.agent.check.ttl_warn("service:worker") is True, "ttl_warn")
            expect(c.health.checks("worker")[1][0]["Status"] == "warning", "warning")
        check("agent.check.ttl_pass/ttl_warn", ttl_check)

        def deregister():
            expect(c.agent.service.deregister("web1") is True, "deregister (GET) returns True")
            expect("web1" not in c.agent.services(), "gone from the agent")
            expect(c.catalog.service("web")[1] == [], "gone from the catalog")
            expect(c.health.checks("web")[1] == [], "its checks went too")
        check("agent.service.deregister (python-consul sends GET)", deregister)
    finally:
        target.shutdown()
        target.server_close()

    def catalog_register():
        expect(c.catalog.register("node1", "10.0.0.5", service={"Service": "ext", "ID": "ext1", "Port": 80,
                                                                "Tags": ["a"]}) is True, "register")
        _, node = c.catalog.node("node1")
        expect(node["Node"]["Address"] == "10.0.0.5" and "ext1" in node["Services"], node)
        expect(c.catalog.deregister("node1", service_id="ext1") is True, "deregister service")
        expect(c.catalog.service("ext")[1] == [], "service gone")
        expect(c.catalog.deregister("node1") is True, "deregister node")
        expect(c.catalog.node("node1")[1] is None, "node gone")
    check("catalog.register/deregister", catalog_register)

    def status_self():
        expect(c.status.leader() == json.loads(sample("status-leader.json")), c.status.leader())
        expect(c.status.peers() == ["127.0.0.1:8300"], c.status.peers())
        me = c.agent.self()
        expect(me["Config"]["NodeName"] == "sandbox" and me["DebugConfig"]["HTTPPort"] == port, me["Config"])
        expect_shape("agent-self-min.json", me)
    check("status.leader/peers, agent.self (status-leader.json, agent-self-min.json)", status_self)

    # ---- Txn over raw HTTP
    def txn_ok():
        c.kv.put("app/config", b"old")
        c.kv.put("app/version", b"1.2.3")
        c.kv.put("app/old", b"x")
        mi = c.kv.get("app/config")[1]["ModifyIndex"]
        req = json.loads(sample("txn-request.json"))
        req[0]["KV"]["Index"] = mi
        status, headers, body = raw(port, "PUT", "/v1/txn", json.dumps(req))
        expect(status == 200, (status, body))
        got = json.loads(body)
        expect(got["Errors"] is None and len(got["Results"]) == 3, got)
        expect_shape("txn-ok.json", got)
        expect(got["Results"][2]["KV"]["Value"] == base64.b64encode(b"1.2.3").decode(), got)
        expect(c.kv.get("app/config")[1]["Value"] == b"new-value", "set applied")
        expect(c.kv.get("app/old")[1] is None, "delete applied")
    check("txn commit (txn-request.json -> txn-ok.json)", txn_ok)

    def txn_conflict():
        before = c.kv.get("app/config")[1]
        req = [{"KV": {"Verb": "set", "Key": "app/fresh", "Value": base64.b64encode(b"x").decode()}},
               {"KV": {"Verb": "check-index", "Key": "app/config", "Index": before["ModifyIndex"] + 1}}]
        status, headers, body = raw(port, "PUT", "/v1/txn", json.dumps(req))
        expect(status == 409, (status, body))
        got = json.loads(body)
        expect(got["Results"] is None and got["Errors"][0]["OpIndex"] == 1, got)
        expect("current modify index %d != %d" % (before["ModifyIndex"], before["ModifyIndex"] + 1)
               in got["Errors"][0]["What"], got)
        expect_shape("txn-conflict.json", got)
        expect(c.kv.get("app/fresh")[1] is None, "rolled back: nothing written")
        expect(c.kv.get("app/config")[1] == before, "rolled back: untouched")
    check("txn 409 rollback (txn-conflict.json)", txn_conflict)

    def txn_limits():
        ops = [{"KV": {"Verb": "get", "Key": "k"}}] * 129
        status, _, body = raw(port, "PUT", "/v1/txn", json.dumps(ops))
        expect(status == 413 and body == "Transaction contains too many operations (129 > 128)", (status, body))
        status, _, body = raw(port, "PUT", "/v1/txn", "not json")
        expect(status == 400 and body.startswith("Failed to parse body"), (status, body))
        status, _, _ = raw(port, "POST", "/v1/txn", "[]")
        expect(status == 405, status)
    check("txn limits and errors", txn_limits)

    # ---- Request samples are accepted as sent
    def request_samples():
        status, _, body = raw(port, "PUT", "/v1/catalog/register", sample("catalog-register-request.json"))
        expect(status == 200 and body == "true", (status, body))
        # session-create-request.json names node foobar and checks a, b, c: register them first.
        node = {"Node": "foobar", "Address": "10.1.10.12",
                "Checks": [{"CheckID": cid, "Name": cid, "Status": "passing"} for cid in ("a", "b", "c", "serfHealth")]}
        status, _, body = raw(port, "PUT", "/v1/catalog/register", json.dumps(node))
        expect(status == 200, (status, body))
        status, _, body = raw(port, "PUT", "/v1/session/create", sample("session-create-request.json"))
        expect(status == 200, (status, body))
        expect_shape("session-create.json", json.loads(body))
        sid = json.loads(body)["ID"]
        _, _, info = raw(port, "GET", "/v1/session/info/" + sid)
        info = json.loads(info)
        expect(info[0]["LockDelay"] == 15000000000 and info[0]["Checks"] == ["a", "b", "c"], info)
        status, _, body = raw(port, "PUT", "/v1/agent/service/register", sample("agent-service-register-python.json"))
        expect(status == 200 and body == "", (status, body))
        services = c.agent.services()
        expect(services["web1"]["EnableTagOverride"] is True and services["web1"]["Tags"] == ["a"], services)
        status, _, body = raw(port, "PUT", "/v1/txn", sample("txn-request.json"))
        expect(status in (200, 409), (status, body))
        expect_shape("txn-ok.json" if status == 200 else "txn-conflict.json", json.loads(body))
    check("request samples accepted (catalog-register, session-create, agent-service-register, txn)",
          request_samples)

    def errors():
        status, headers, body = raw(port, "GET", "/v1/nope")
        expect(status == 404, status)
        status, headers, body = raw(port, "POST", "/v1/kv/x")
        expect(status == 405 and "Allow" in headers, (status, headers))
        status, _, body = raw(port, "GET", "/v1/kv/x?dc=mars")
        expect(status == 500 and body == "No path to datacenter", (status, body))
        try:
            c.kv.get("x", dc="mars")
            raise AssertionError("expected ConsulException")
        except consul.ConsulException:
            pass
    check("errors: 404, 405, unknown dc", errors)

    # ---- ACLs, on a second sandbox
    _, acl_port = start_sandbox(binary, ["--consul-acl-token", "s3cret"])

    def acl():
        anon = consul.Consul(host="127.0.0.1", port=acl_port)
        try:
            anon.kv.put("k", b"v")
            raise AssertionError("expected ACLPermissionDenied")
        except consul.ACLPermissionDenied as e:
            expect("Permission denied" in str(e), str(e))
        authed = consul.Consul(host="127.0.0.1", port=acl_port, token="s3cret")
        expect(authed.kv.put("k", b"v") is True, "put with ?token")
        expect(authed.kv.get("k")[1]["Value"] == b"v", "get with ?token")
        status, _, _ = raw(acl_port, "GET", "/v1/kv/k", headers={"X-Consul-Token": "s3cret"})
        expect(status == 200, status)
        status, _, body = raw(acl_port, "GET", "/v1/kv/k", headers={"X-Consul-Token": "wrong"})
        expect(status == 403 and body == "ACL not found", (status, body))
        expect(anon.status.leader() == "127.0.0.1:8300", "status needs no token")
    check("ACL token required (ACLPermissionDenied, ?token, X-Consul-Token)", acl)

    # ---- --state: KV, indexes, sessions and registrations survive a restart
    state_file = os.path.join(tempfile.mkdtemp(prefix="consul-state-"), "state.json")

    def persistence():
        proc, p1 = start_sandbox(binary, ["--state", state_file])
        c1 = consul.Consul(host="127.0.0.1", port=p1)
        c1.kv.put("keep/me", b"kept", flags=5)
        sid = c1.session.create(name="kept", ttl=60)
        c1.agent.service.register("svc", service_id="svc1", port=1234, tags=["t"])
        _, before = c1.kv.get("keep/me")
        stop(proc)  # SIGTERM: the sandbox saves its state
        _, p2 = start_sandbox(binary, ["--state", state_file])
        c2 = consul.Consul(host="127.0.0.1", port=p2)
        _, after = c2.kv.get("keep/me")
        expect(after == before, (before, after))
        expect(c2.session.info(sid)[1]["Name"] == "kept", "session restored")
        expect(c2.agent.services()["svc1"]["Tags"] == ["t"], "registration restored")
        expect(c2.kv.put("keep/me", b"next"), "writable after restore")
        expect(c2.kv.get("keep/me")[1]["ModifyIndex"] > before["ModifyIndex"], "the raft index survived")
    check("--state round trip across a restart", persistence)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]

    def watchdog(signum, frame):
        raise TimeoutError("conformance run exceeded its time budget")

    signal.signal(signal.SIGALRM, watchdog)
    signal.alarm(100)
    try:
        run(binary)
    except Exception as e:  # noqa: BLE001
        RESULTS["failed"] += 1
        print("FAIL setup: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        signal.alarm(0)
        stop_all()
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]), flush=True)
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
