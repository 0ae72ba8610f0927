#!/usr/bin/env python3
"""galley-sandbox --nodes: Marathon places tasks across loopback nodes honouring
hostname:UNIQUE (an instance with no node left waits and its deployment stays open), tasks
get HOST = the node's address and are bound and health-checked there; each node has a Consul
agent endpoint over one catalog; marking a node failed turns its serfHealth critical and
drops its services from ?passing. Also: bad --nodes values are refused.
Usage: test_sandbox_nodes.py path/to/galley-sandbox"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from sandbox_testlib import check, http, results

SANDBOX = sys.argv[1]
# The reference test server: listens on $PORT0 at $HOST, shows its environment on GET /.
TESTSERVER = os.path.join(os.path.dirname(os.path.abspath(SANDBOX)), "galley-testserver")


def get_json(url):
    status, body = http("GET", url)
    return json.loads(body) if status == 200 else None


def wait_for(what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = what()
        if v:
            return v
        time.sleep(0.1)
    return what()


def bad_flags():
    for value, needle in [("a", "not NAME=ADDRESS"), ("a=", "not NAME=ADDRESS"),
                          ("a=127.0.0.2,A=127.0.0.3", "given twice"),
                          ("a=127.0.0.2,b=127.0.0.2", "given to two nodes"),
                          ("a=10.0.0.2", "not a loopback address"), ("a=host.example", "not an IPv4 address"),
                          ("sandbox=127.0.0.2", "own node name"), ("a b=127.0.0.2", "letters, digits")]:
        p = subprocess.run([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--nodes", value],
                           capture_output=True, text=True, timeout=20)
        check(f"--nodes {value!r} is refused", p.returncode == 1 and needle in p.stderr, (p.returncode, p.stderr))


def main():
    bad_flags()
    tmp = tempfile.mkdtemp(prefix="galley-sandbox-nodes-")
    ready = os.path.join(tmp, "ready.json")
    p = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                          "--tasks", "process", "--log-dir", tmp, "--consul-session-ttl-min", "1",
                          "--nodes", "a=127.0.0.2,b=127.0.0.3"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        info = wait_for(lambda: os.path.exists(ready) and json.load(open(ready)))
        check("ready file lists the nodes with their agent ports",
              info and [(n["name"], n["address"]) for n in info.get("nodes", [])] ==
              [("a", "127.0.0.2"), ("b", "127.0.0.3")] and all(n["consul_port"] > 0 for n in info["nodes"]), info)
        if not info or "nodes" not in info:
            return
        m = f"http://127.0.0.1:{info['marathon_port']}"
        c = f"http://127.0.0.1:{info['consul_port']}"
        agent = {n["name"]: f"http://{n['address']}:{n['consul_port']}" for n in info["nodes"]}

        # ---- Marathon: UNIQUE with more instances than nodes; the task serves on $HOST.
        app = {"id": "/app/production/web", "instances": 3, "cpus": 0.1, "mem": 32,
               "args": [TESTSERVER],
               "constraints": [["hostname", "UNIQUE"]], "portDefinitions": [{"port": 0}],
               "healthChecks": [{"protocol": "HTTP", "path": "/healthcheck", "portIndex": 0, "gracePeriodSeconds": 30,
                                 "intervalSeconds": 1, "timeoutSeconds": 2}]}
        status, body = http("POST", m + "/v2/apps", app)
        check("create a UNIQUE app with 3 instances on 2 nodes", status == 201, (status, body))

        def two_healthy():
            tasks = (get_json(m + "/v2/apps/app/production/web/tasks") or {}).get("tasks", [])
            healthy = [t for t in tasks if t.get("healthCheckResults") and t["healthCheckResults"][0]["alive"]]
            return tasks if len(healthy) == 2 else None
        tasks = wait_for(two_healthy, 30) or []
        check("two tasks run and turn healthy (checked at their node's address)", len(tasks) == 2, tasks)
        check("one task per node: host is the node name, ipAddresses the node address",
              sorted((t["host"], t["ipAddresses"][0]["ipAddress"]) for t in tasks) ==
              [("a", "127.0.0.2"), ("b", "127.0.0.3")], tasks)
        # Each node's allocator starts at the range's first free port (ports something else on
        # the machine holds at the wildcard address are skipped on both alike).
        check("host ports are per node: both tasks got the same port number",
              len(tasks) == 2 and tasks[0]["ports"] == tasks[1]["ports"], [t["ports"] for t in tasks])
        check("each node has its own agent id", len({t["slaveId"] for t in tasks}) == 2, tasks)
        for t in tasks:
            addr, port = t["ipAddresses"][0]["ipAddress"], t["ports"][0]
            status, env = http("GET", f"http://{addr}:{port}/")
            check(f"the task on {t['host']} serves on {addr}:{port} with HOST={addr}",
                  status == 200 and f"HOST={addr}" in env.splitlines(), (status, env[:300]))
        time.sleep(1.5)
        tasks_now = (get_json(m + "/v2/apps/app/production/web/tasks") or {}).get("tasks", [])
        check("the third instance waits: no node left for it", len(tasks_now) == 2, tasks_now)
        deps = get_json(m + "/v2/deployments") or []
        check("and the deployment stays in progress", len(deps) == 1, deps)
        status, body = http("PUT", m + "/v2/apps/app/production/web?force=true", {"instances": 2})
        check("scaling down to 2 is accepted", status == 200, (status, body))
        check("then the deployment finishes", wait_for(lambda: get_json(m + "/v2/deployments") == [], 20))

        # Without UNIQUE, tasks spread least-loaded first and may share a host port number.
        status, body = http("POST", m + "/v2/apps", {"id": "/app/production/idle", "instances": 4, "cpus": 0.1,
                                                       "mem": 32, "cmd": "sleep 300",
                                                       "portDefinitions": [{"port": 0}]})
        check("create a 4-instance app without constraints", status == 201, (status, body))
        idle = wait_for(lambda: (lambda ts: ts if len(ts) == 4 else None)(
            (get_json(m + "/v2/apps/app/production/idle/tasks") or {}).get("tasks", [])))
        hosts = sorted(t["host"] for t in idle or [])
        check("4 instances spread 2 and 2 over the nodes", hosts == ["a", "a", "b", "b"], hosts)

        # ---- Consul: per-node agents over one catalog.
        self_a = get_json(agent["a"] + "/v1/agent/self")
        check("agent/self on a's endpoint reports node a at 127.0.0.2",
              self_a and self_a["Config"]["NodeName"] == "a" and self_a["Member"]["Addr"] == "127.0.0.2", self_a)
        for node in ("a", "b"):
            addr = "127.0.0.2" if node == "a" else "127.0.0.3"
            status, body = http("PUT", agent[node] + "/v1/agent/service/register",
                                {"ID": f"web-{node}", "Name": "web", "Address": addr, "Port": 31000})
            check(f"register web on {node}'s agent", status == 200, (status, body))
        svc = get_json(c + "/v1/catalog/service/web") or []
        check("the one catalog has web on both nodes, with their addresses",
              sorted((s["Node"], s["Address"]) for s in svc) == [("a", "127.0.0.2"), ("b", "127.0.0.3")], svc)
        local_b = get_json(agent["b"] + "/v1/agent/services") or {}
        check("b's agent lists only its own service", list(local_b) == ["web-b"], local_b)
        node_a = get_json(c + "/v1/catalog/node/a") or {}
        check("/v1/catalog/node/a shows a's service",
              node_a.get("Node", {}).get("Address") == "127.0.0.2" and list(node_a.get("Services", {})) == ["web-a"],
              node_a)
        check("the main endpoint's agent is unaffected", "web-a" not in (get_json(c + "/v1/agent/services") or {}))

        # ---- A failed node: serfHealth critical, its services leave ?passing.
        status, body = http("PUT", c + "/_sandbox/nodes/a", {"failed": True})
        check("mark node a failed", status == 200 and json.loads(body)["failed"] is True, (status, body))
        serf = [x for x in get_json(c + "/v1/health/node/a") or [] if x["CheckID"] == "serfHealth"]
        check("a's serfHealth is critical", serf and serf[0]["Status"] == "critical", serf)
        passing = get_json(c + "/v1/health/service/web?passing") or []
        check("?passing drops a's service", [e["Node"]["Node"] for e in passing] == ["b"], passing)
        allw = get_json(c + "/v1/health/service/web") or []
        check("without ?passing both are still listed", len(allw) == 2, allw)
        status, body = http("PUT", c + "/_sandbox/nodes/a", {"failed": False})
        passing = get_json(c + "/v1/health/service/web?passing") or []
        check("a alive again: both pass", status == 200 and len(passing) == 2, passing)
        status, _ = http("PUT", c + "/_sandbox/nodes/nosuch", {"failed": True})
        check("an unknown node is 404", status == 404, status)
        status, _ = http("PUT", c + "/_sandbox/nodes/a", {"failed": "yes"})
        check("a bad body is 400", status == 400, status)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    print(f"{sum(results)}/{len(results)} passed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
