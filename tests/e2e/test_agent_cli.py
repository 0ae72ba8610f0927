#!/usr/bin/env python3
"""`galley agent` as an operator runs it: the built binaries, a real galley-sandbox with real
galley-testserver tasks on two loopback nodes (127.0.0.12, 127.0.0.13: not the demo's), one agent and one real
HAProxy per node (bench/agent_lab.py's Lab). Checks: argument errors; traffic through each
node's HAProxy reaches every task; the agents' registrations and reports in Consul; a rolling
deploy of a new tag under load loses no request and reloads no HAProxy; a hand-set maint shows
in `galley drift` (exit 2); a killed HAProxy is restarted; a restarted agent adopts HAProxy
without a reload; a second agent claiming a node is refused; SIGTERM removes the report and
leaves HAProxy serving. Loopback only, bounded, everything started is stopped.
Usage: test_agent_cli.py BIN_DIR SOURCE_ROOT"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import http.client as httpclient

BIN, ROOT = sys.argv[1], sys.argv[2]
os.environ["GALLEY_BIN"] = BIN
sys.path.insert(0, os.path.join(ROOT, "bench"))
from agent_lab import Lab, http, runtime, wait_for  # noqa: E402

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {str(detail)[:2500]}"), flush=True)
    return bool(cond)


def converged(lab, n):
    a = lab.app()
    return a["instances"] == n and a["tasksHealthy"] == n and a["tasksRunning"] == n and not a.get("deployments")


def master_reloads(lab, node):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(lab.run_dir(node), "internal.master.sock"))
    s.sendall(b"show proc\n")
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    for line in out.decode().splitlines():
        p = line.split()
        if len(p) >= 3 and p[1] == "master":  # "<pid> master <reloads> [failed: N] <uptime> ..."
            return int(p[0]), int(p[2])
    return 0, -1


class Load:
    """Keep-alive GETs through one HAProxy, counting anything that is not a 200."""

    def __init__(self, host, port=3000, clients=4):
        self.host, self.port = host, port
        self.ok = 0
        self.bad = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                c = httpclient.HTTPConnection(self.host, self.port, timeout=5)
                while not self.stop.is_set():
                    c.request("GET", "/")
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.bad.append(r.status)
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.bad.append(type(e).__name__)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        return self.ok, self.bad


def main():
    work = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"galley-agent-e2e-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    lab = Lab(work, nodes=(("a", "127.0.0.12"), ("b", "127.0.0.13")), log=lambda s: None)
    addr = dict(lab.nodes)
    galley = os.path.join(BIN, "galley")
    try:
        r = subprocess.run([galley, "agent", os.path.join(ROOT, "examples", "reference"), "--node", "a",
                            "--haproxy", "edge"], capture_output=True, text=True, timeout=30)
        check("1 an undeclared --haproxy instance is refused naming galley.yaml and the declared ones",
              r.returncode == 1 and "no instance 'edge'" in r.stderr and "internal, external" in r.stderr, r.stderr)
        r = subprocess.run([galley, "agent", os.path.join(ROOT, "examples", "reference"), "--haproxy", "internal"],
                           capture_output=True, text=True, timeout=30)
        check("1 --node is required", r.returncode == 1 and "--node" in r.stderr, r.stderr)
        # A service file that does not validate: galley.yaml alone is enough for the LB
        # managers' long polls to start, but nothing runs until the whole repository loaded
        # valid, and the agent exits at once (no long poll in flight to wait out).
        broken = os.path.join(work, "broken-repo")
        shutil.copytree(os.path.join(ROOT, "examples", "reference"), broken)
        with open(os.path.join(broken, "services", "zz-broken.yaml"), "w") as f:
            f.write("name: [not, a, name]\n")
        broken_run = os.path.join(work, "broken-run")
        t0 = time.monotonic()
        r = subprocess.run([galley, "agent", broken, "--node", "a", "--haproxy", "internal",
                            "--run-dir", broken_run, "--consul", "http://127.0.0.1:9",
                            "--marathon", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        check("1 an invalid repository is refused at once, before HAProxy is touched",
              r.returncode == 1 and "is not valid" in r.stderr and "zz-broken.yaml" in r.stderr and took < 10
              and not os.path.exists(os.path.join(broken_run, "internal.cfg")), f"{took:.1f} s: {r.stderr}")

        lab.start(instances=4)
        lab.apply()
        wait_for("4 healthy tasks", lambda: converged(lab, 4), 60, 0.2)
        for node, _ in lab.nodes:
            lab.start_agent(node, "--resync", "5s")
        for node, _ in lab.nodes:
            seen = wait_for(f"node {node}'s HAProxy serving all 4 tasks", lambda n=node: lab.serving(n, 4), 30, 0.2)
            check(f"2 node {node}: requests through its HAProxy reach all 4 tasks", len(seen) == 4, seen)

        status, text = http("GET", f"http://{addr['a']}:{lab.node_consul['a']}/v1/agent/services")
        services = json.loads(text)
        mine = [s for s in services.values() if s.get("Meta", {}).get("galley-node") == "a"]
        check("3 node a's Consul agent holds galley's registrations of its tasks (meta, tags, port)",
              mine and all(s["Service"] == "test-server" and s["Meta"].get("galley-task") and s["Port"] > 0
                           for s in mine), services)
        reports = wait_for("both agents' reports", lambda: (lambda st_t: st_t[0] == 200 and len(json.loads(st_t[1])) >= 2
                                                            and json.loads(st_t[1]))(
            http("GET", f"{lab.consul}/v1/kv/galley/reference/agents/?recurse")), 20, 0.2)
        check("3 each agent reports under its own session", all(e.get("Session") for e in reports), reports)

        pid_a, reloads_a = master_reloads(lab, "a")
        load = Load(addr["a"])
        time.sleep(0.5)
        lab.set_tag("master-0123456789abcdef0123456789abcdef01234567-58")
        lab.apply()
        wait_for("the new tag converged", lambda: converged(lab, 4), 90, 0.2)
        time.sleep(1)
        ok, bad = load.finish()
        check("4 a rolling deploy under keep-alive load loses no request", ok > 500 and not bad,
              f"{ok} ok, {len(bad)} bad: {bad[:10]}")
        pid_after, reloads_after = master_reloads(lab, "a")
        check("4 ... and HAProxy was not reloaded", pid_after == pid_a and reloads_after == reloads_a,
              (pid_a, reloads_a, pid_after, reloads_after))

        st = runtime(lab, "b", "show servers state cluster_production:test-server")
        row = [l.split() for l in st.splitlines() if l and l[0].isdigit() and len(l.split()) > 5][0]
        runtime(lab, "b", f"set server {row[1]}/{row[3]} state maint")
        r = None

        def drift_sees_it():
            nonlocal r
            r = lab.galley("drift", lab.repo, *lab.endpoint_args(), "--detailed-exitcode", "--json", check=False)
            return r.returncode == 2 and row[3] in r.stdout
        try:
            wait_for("drift to see the hand-set maint", drift_sees_it, 20, 1)
        except RuntimeError:
            pass
        check("5 galley drift reports the server put in maint by hand (exit 2)", r and r.returncode == 2
              and row[3] in r.stdout, (r.returncode, r.stdout[-1500:], r.stderr[-500:]) if r else None)
        st = runtime(lab, "b", f"show servers state cluster_production:test-server")
        check("5 ... and the agent did not undo it", any(l.split()[3] == row[3] and int(l.split()[6]) & 1
                                                        for l in st.splitlines() if len(l.split()) > 6 and l[0].isdigit()), st)

        killed = lab.haproxy_pid("a")
        os.kill(killed, signal.SIGKILL)

        def new_master():
            # The killed master's worker may serve on for a moment: wait for the new master's
            # pid file and its master socket, then for traffic.
            pid = lab.haproxy_pid("a")
            if pid in (0, killed):
                return None
            try:
                got = master_reloads(lab, "a")
            except OSError:
                return None
            return got if got[0] == pid else None

        wait_for("a new HAProxy master on node a", new_master, 30, 0.2)
        wait_for("HAProxy on node a restarted and serving", lambda: lab.serving("a", 1), 30, 0.2)
        check("6 a killed HAProxy is started again and serves", True)

        pid_a, reloads_a = master_reloads(lab, "a")
        lab.stop_agent("a")
        check("7 SIGTERM stops the agent and HAProxy keeps serving", lab.serving("a", 1) is not None)
        gone = wait_for("node a's report removed", lambda: http(
            "GET", f"{lab.consul}/v1/kv/galley/reference/agents/a/internal")[0] == 404, 10, 0.2)
        check("7 ... and its report is gone from Consul", gone)
        lab.start_agent("a")
        time.sleep(3)
        pid_after, reloads_after = master_reloads(lab, "a")
        check("8 a restarted agent adopts the running HAProxy without a reload",
              pid_after == pid_a and reloads_after == reloads_a, (pid_a, reloads_a, pid_after, reloads_after))

        second = subprocess.Popen([galley, "agent", lab.repo, "--node", "a", "--haproxy", "internal", "--bind",
                                   addr["a"], "--run-dir", os.path.join(work, "run-a2"), "--marathon",
                                   lab.marathon, "--consul", f"http://{addr['a']}:{lab.node_consul['a']}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=40)
        check("9 a second agent claiming node a is refused, naming the holder, and leaves HAProxy alone",
              "galley/reference/agents/a/internal" in err and "held" in err.lower()
              and not os.path.exists(os.path.join(work, "run-a2", "internal.pid")), err[-1500:])
    except Exception as e:  # noqa: BLE001
        check("no unexpected error", False, f"{e}\n--- agent-a\n{lab.tail('agent-a')}\n--- agent-b\n{lab.tail('agent-b')}")
    finally:
        lab.stop()
    if all(results) and not os.environ.get("GALLEY_E2E_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    print(f"{sum(results)}/{len(results)} checks passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
