#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A platform with traffic on one machine, for the agent's demo and benchmarks (issue #12):
galley-sandbox with real galley-testserver tasks placed on loopback "nodes" (127.0.0.2,
127.0.0.3, ...), one `galley agent` and one real HAProxy per node bound to the node's address,
and a copy of examples/reference holding only test-server. Loopback only; everything started is
stopped by Lab.stop() (HAProxy masters included, through their pid files).

Used by ci/demo.sh (`agent_lab.py demo`) and bench/agent_traffic.py."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GALLEY_BIN", os.path.join(ROOT, "build", "bin"))
APP = "/app/production/test-server"
SERVICE_FILE = "services/test-server.yaml"


def http(method, url, body=None, timeout=10, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, fn, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, urllib.error.URLError) as e:
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Lab:
    def __init__(self, work, nodes=(("a", "127.0.0.2"), ("b", "127.0.0.3")), log=print):
        self.work = work
        self.nodes = list(nodes)
        self.log = log
        self.procs = []        # (name, Popen)
        self.agents = {}       # node -> Popen
        self.sandbox = None
        self.repo = os.path.join(work, "repo")
        self.state = os.path.join(work, "galley.db")

    # --- platform --------------------------------------------------------------------------
    def start(self, instances=4):
        os.makedirs(self.work, exist_ok=True)
        ready = os.path.join(self.work, "sandbox-ready.json")
        tasks_log = os.path.join(self.work, "tasks")
        args = [os.path.join(BIN, "galley-sandbox"), "--marathon-port", "0", "--consul-port", "0",
                "--ready-file", ready, "--tasks", "process",
                "--nodes", ",".join(f"{n}={a}" for n, a in self.nodes),
                "--image-map", f"registry.local/test-server:*={BIN}/galley-testserver",
                "--exec-alias", f"service-wrapper.sh={BIN}/galley-wrapper",
                "--exec-alias", f"node={BIN}/galley-testserver",
                "--host-alias", "dockerhost=127.0.0.1", "--log-dir", tasks_log]
        self.sandbox = self._spawn("sandbox", args)
        info = wait_for("the sandbox's ready file", lambda: os.path.getsize(ready) and
                        json.load(open(ready)), 15)
        self.mport, self.cport = info["marathon_port"], info["consul_port"]
        self.node_consul = {n["name"]: n["consul_port"] for n in info["nodes"]}
        self.marathon = f"http://127.0.0.1:{self.mport}"
        self.consul = f"http://127.0.0.1:{self.cport}"
        # The repository: examples/reference with only test-server, whose wrapper reaches the
        # sandbox as a container would (dockerhost:<port>).
        shutil.copytree(os.path.join(ROOT, "examples", "reference"), self.repo)
        for f in os.listdir(os.path.join(self.repo, "services")):
            if f != "test-server.yaml":
                os.remove(os.path.join(self.repo, "services", f))
        self.edit("galley.yaml", '"dockerhost:18080", "dockerhost:18500"',
                  f'"dockerhost:{self.mport}", "dockerhost:{self.cport}"')
        self.set_instances(instances)
        # A short kill grace keeps the runs short; the test server serves through it.
        os.environ.setdefault("PROD_DATABASE_URL", "postgres://lab")

    def endpoint_args(self):
        return ["--marathon", self.marathon, "--consul", self.consul, "--state", self.state]

    def edit(self, rel, old, new):
        p = os.path.join(self.repo, rel)
        text = open(p).read()
        if old not in text:
            raise RuntimeError(f"{rel}: {old!r} not found")
        open(p, "w").write(text.replace(old, new, 1))

    def set_instances(self, n):
        p = os.path.join(self.repo, SERVICE_FILE)
        text = open(p).read()
        text = re.sub(r"(  production:\n(?:      .*\n|    (?!instances).*\n)*?    instances: )\d+",
                      lambda m: m.group(1) + str(n), text, count=1)
        open(p, "w").write(text)

    def set_tag(self, tag):
        p = os.path.join(self.repo, SERVICE_FILE)
        text = open(p).read()
        text = re.sub(r"(  production:\n    tag: )\S+", lambda m: m.group(1) + tag, text, count=1)
        open(p, "w").write(text)

    def galley(self, *args, timeout=180, check=True):
        r = subprocess.run([os.path.join(BIN, "galley"), *args], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode not in (0, 2):
            raise RuntimeError(f"galley {' '.join(args[:2])}: exit {r.returncode}\n{r.stdout[-2000:]}"
                               f"{r.stderr[-2000:]}")
        return r

    def apply(self, timeout=180):
        return self.galley("apply", self.repo, *self.endpoint_args(), "--auto-approve",
                           timeout=timeout)

    def app(self):
        status, text = http("GET", f"{self.marathon}/v2/apps{APP}?embed=app.tasks")
        if status != 200:
            raise RuntimeError(f"GET app: {status} {text[:200]}")
        return json.loads(text)["app"]

    # --- agents ----------------------------------------------------------------------------
    def run_dir(self, node):
        return os.path.join(self.work, f"run-{node}")

    def start_agent(self, node, *extra):
        address = dict(self.nodes)[node]
        os.makedirs(self.run_dir(node), exist_ok=True)
        args = [os.path.join(BIN, "galley"), "agent", self.repo, "--node", node,
                "--haproxy", "internal", "--bind", address, "--run-dir", self.run_dir(node),
                "--marathon", self.marathon,
                "--consul", f"http://{address}:{self.node_consul[node]}", *extra]
        self.agents[node] = self._spawn(f"agent-{node}", args)
        return self.agents[node]

    def stop_agent(self, node, sig=signal.SIGTERM):
        p = self.agents.pop(node, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def haproxy_pid(self, node):
        try:
            return int(open(os.path.join(self.run_dir(node), "internal.pid")).read().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def url(self, node, path="/"):
        return f"http://{dict(self.nodes)[node]}:3000{path}"

    def serving(self, node, at_least=1):
        """The task ids that answered through node's HAProxy listen port in a few requests."""
        seen = set()
        for _ in range(max(8, 4 * at_least)):
            status, text = http("GET", self.url(node), timeout=2)
            if status != 200:
                return None
            m = re.search(r"^MESOS_TASK_ID=(.*)$", text, re.M)
            if m:
                seen.add(m.group(1))
        return seen if len(seen) >= at_least else None

    # --- housekeeping ----------------------------------------------------------------------
    def _spawn(self, name, args):
        logf = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop(self):
        for node in list(self.agents):
            self.stop_agent(node)
        # HAProxy outlives its agent by design: stop each master (it stops its workers).
        for node, _ in self.nodes:
            pid = self.haproxy_pid(node)
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def tail(self, name, lines=30):
        try:
            return "".join(open(os.path.join(self.work, f"{name}.log"), errors="replace")
                           .readlines()[-lines:])
        except OSError:
            return ""


def runtime(lab, node, command):
    """One command on node's HAProxy stats socket (the agent's run dir), HAProxy's reply."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(lab.run_dir(node), "internal.sock"))
    s.sendall(command.encode() + b"\n")
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode()


def demo():
    """ci/demo.sh's traffic part: the reference test-server on real processes on two nodes,
    an agent and HAProxy per node, a request through HAProxy, a rolling deploy under load with
    its failed-request count, and drift seeing a server put in maint by hand."""
    import tempfile
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from agent_traffic import Wrk, wait_converged  # noqa: E402
    work = tempfile.mkdtemp(prefix="galley-demo-traffic-")
    lab = Lab(work)

    def step(text):
        print(f"\n==> {text}", flush=True)

    try:
        step("galley-sandbox --tasks process --nodes a=127.0.0.2,b=127.0.0.3   (real galley-testserver tasks)")
        lab.start(instances=4)
        print(f"marathon {lab.marathon}  consul {lab.consul}  node agents: "
              + ", ".join(f"{n}=http://{a}:{lab.node_consul[n]}" for n, a in lab.nodes))
        step("galley apply   (test-server x4 in production, and the internal HAProxy's LB model)")
        r = lab.apply()
        print(r.stdout[-1200:])
        wait_converged(lab, 4)
        for node, address in lab.nodes:
            step(f"galley agent {os.path.relpath(lab.repo, work)} --node {node} --haproxy internal "
                 f"--bind {address} --run-dir run-{node}")
            lab.start_agent(node)
        seen = wait_for("node a's HAProxy serving all 4 tasks", lambda: lab.serving("a", 4), 30, 0.2)
        step(f"curl {lab.url('a')}   (through HAProxy on node a to test-server)")
        status, text = http("GET", lab.url("a"))
        keep = [l for l in text.splitlines() if l.split("=")[0] in
                ("MESOS_TASK_ID", "HOST", "PORT0", "MARATHON_APP_VERSION", "LOG_LEVEL")]
        print(f"HTTP {status}\n" + "\n".join(keep))
        print(f"requests through 127.0.0.2:3000 reached {len(seen)} different tasks")
        step("a rolling deploy of a new tag under keep-alive load (wrk -t2 -c16 through node a)")
        wrk = Wrk(lab.url("a"), 25)
        time.sleep(1)
        lab.set_tag("master-0123456789abcdef0123456789abcdef01234567-58")
        t0 = time.monotonic()
        lab.apply()
        wait_converged(lab, 4)
        print(f"deploy finished in {time.monotonic() - t0:.1f} s; waiting for the load to end")
        res = wrk.result()
        print(f"{res['requests']} requests ({res['rps']:.0f} req/s): {res['non2xx']} non-2xx, "
              f"{res['socket_errors']} socket errors")
        step("someone puts a server in maint by hand on node b's HAProxy")
        state = runtime(lab, "b", "show servers state cluster_production:test-server")
        row = [l.split() for l in state.splitlines() if l and l[0].isdigit() and len(l.split()) > 5][0]
        backend, server = row[1], row[3]
        print(f"set server {backend}/{server} state maint -> "
              f"{runtime(lab, 'b', f'set server {backend}/{server} state maint').strip() or 'ok'}")
        time.sleep(2)  # the agent's next report
        step("galley drift   (sees the hand change)")
        r = lab.galley("drift", lab.repo, *lab.endpoint_args(), check=False)
        print(r.stdout[-2500:] + r.stderr[-800:])
        print(f"(galley drift exit {r.returncode})")
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["demo"]:
        sys.exit(demo())
    print("usage: agent_lab.py demo", file=sys.stderr)
    sys.exit(2)
