#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One `galley agent` at scale (issue #12): the internal HAProxy instance of a generated
2,000-service x 3-environment repository (bench/gen_repo.py), two passing instances per
registered service and environment in the sandbox's Consul catalog (~13,700 servers in
~6,800 backends), real HAProxy on 127.0.0.2. Loopback only.

    bench/agent_scale.py [--services 2000] [--environments 3] [--small 50]

The measured backend (the first service's first environment) has real HTTP servers behind it
(one thread each in this process, 200 on every path, the port in the body), so its health
checks pass and the last-server rule sees servers up, as in production; the other ~13,700
servers point at closed loopback ports (checked, DOWN).

Measures and prints PASS/FAIL against the issue's targets:
  - cold start: agent started -> the first request through HAProxy's frontend of the measured
    backend answered by one of its real servers (target < 2 s; the repository load, Consul
    reads, render and HAProxy's start included); "every server loaded" (all ~13,700 in
    `show servers state`) is printed beside it,
  - one server added / removed -> visible in `show servers state` (target < 100 ms, 0 reloads),
  - a rolling deploy of one backend (2 new instances registered, 2 old deregistered, one at a
    time) -> 0 reloads,
  - Consul requests the agent makes per change, at --small services and at full size (target:
    the same, i.e. not growing with the number of services),
  - agent CPU while idle over 10 s (target ~0) and agent RSS (target < 100 MB).
Exit 0 PASS, 1 FAIL, 2 error."""
import argparse
import http.server as http_server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_lab import BIN, ROOT, http, wait_for  # noqa: E402

NODE, ADDR = "a", "127.0.0.2"


def unix(path, command, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(command.encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    out = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode(errors="replace")


class Setup:
    def __init__(self, work, services, environments):
        self.work = work
        self.repo = os.path.join(work, f"repo-{services}")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_repo.py"), self.repo,
                        "--services", str(services), "--environments", str(environments), "--force"],
                       check=True, stdout=subprocess.DEVNULL)
        ready = os.path.join(work, f"ready-{services}.json")
        self.sandbox = subprocess.Popen(
            [os.path.join(BIN, "galley-sandbox"), "--marathon-port", "0", "--consul-port", "0",
             "--ready-file", ready, "--nodes", f"{NODE}={ADDR}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        info = wait_for("sandbox", lambda: os.path.getsize(ready) and json.load(open(ready)), 15)
        self.marathon = f"http://127.0.0.1:{info['marathon_port']}"
        self.consul = f"http://127.0.0.1:{info['consul_port']}"
        self.agent_consul = f"http://{ADDR}:{info['nodes'][0]['consul_port']}"
        self.run = os.path.join(work, f"run-{services}")
        os.makedirs(self.run, exist_ok=True)
        self.agent = None
        self.backends = Backends()

    def publish_model(self):
        r = subprocess.run([os.path.join(BIN, "galley"), "plan", self.repo, "--json", "--marathon",
                            self.marathon, "--consul", self.consul, "--state",
                            os.path.join(self.work, "plan.db")],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, **{k: "x" for k in self.secret_names()}))
        if r.returncode not in (0, 2):
            raise RuntimeError(f"galley plan: exit {r.returncode}: {r.stderr[-1500:]}")
        plan = json.loads(r.stdout)
        for a in plan["actions"]:
            if a["kind"] == "haproxy-model-create" and a["target"].endswith("/internal"):
                status, text = http("PUT", f"{self.consul}/v1/kv/{a['target']}",
                                    body=a["desired"]["value"].encode())
                if status != 200:
                    raise RuntimeError(f"PUT model: {status} {text}")
                return
        raise RuntimeError("no haproxy-model-create action for the internal instance in the plan")

    def secret_names(self):
        names = set()
        for root, _, files in os.walk(os.path.join(self.repo, "services")):
            for f in files:
                for line in open(os.path.join(root, f)):
                    if "secret_env:" in line:
                        names.add(line.split("secret_env:")[1].strip(" }\n"))
        return names

    def registered_names(self):
        """(registered name, environments) of every exposed port, from the repository."""
        import yaml  # noqa: F401  (python3-yaml is installed with the test dependencies)
        out = []
        for root, _, files in os.walk(os.path.join(self.repo, "services")):
            for f in files:
                doc = yaml.safe_load(open(os.path.join(root, f)))
                exposed = [p["container"] for p in doc.get("ports", []) if p.get("expose") in ("http", "tcp")]
                envs = list(doc.get("environments", {}).keys())
                for c in exposed:
                    out.append((doc["name"] if len(exposed) == 1 else f"{doc['name']}-{c}", envs))
        return out

    def register(self, name, env, i, port):
        body = {"Node": f"n{i % 50}", "Address": f"10.1.{i % 200}.{i % 250 + 1}",
                "Service": {"ID": f"{name}-{env}-{i}", "Service": name, "Tags": [env],
                            "Address": "127.0.0.1", "Port": port},
                "Check": {"CheckID": f"service:{name}-{env}-{i}", "Name": "bench",
                          "Status": "passing", "ServiceID": f"{name}-{env}-{i}"}}
        status, text = http("PUT", f"{self.consul}/v1/catalog/register", body=body)
        if status != 200:
            raise RuntimeError(f"register: {status} {text[:200]}")

    def deregister(self, name, env, i):
        body = {"Node": f"n{i % 50}", "ServiceID": f"{name}-{env}-{i}"}
        http("PUT", f"{self.consul}/v1/catalog/deregister", body=body)

    def consul_requests(self):
        return json.loads(http("GET", f"{self.consul}/_sandbox/faults")[1])["requests"]

    def start_agent(self):
        self.agent = subprocess.Popen(
            [os.path.join(BIN, "galley"), "agent", self.repo, "--node", NODE, "--haproxy", "internal",
             "--bind", ADDR, "--run-dir", self.run, "--marathon", self.marathon,
             "--consul", self.agent_consul],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "agent.log"), "ab"),
            start_new_session=True)

    def servers(self, backend=""):
        """`show servers state` rows as dicts keyed by the header's column names."""
        text = unix(os.path.join(self.run, "internal.sock"), f"show servers state {backend}".strip())
        cols, rows = [], []
        for line in text.splitlines():
            if line.startswith("# "):
                cols = line[2:].split()
            elif line and line[0].isdigit() and cols:
                rows.append(dict(zip(cols, line.split())))
        return rows

    def has_port(self, backend, port, active_only=False):
        for r in self.servers(backend):
            if r.get("srv_port") == str(port):
                # srv_admin_state bits 0x01 maint, 0x08 drain: "active" is neither
                return not active_only or (int(r.get("srv_admin_state", "0")) & 0x09) == 0
        return False

    def reloads(self):
        """The master's reload count from `show proc` (its CLI may refuse a connection for a
        moment while it settles after a start: retried)."""
        def once():
            text = unix(os.path.join(self.run, "internal.master.sock"), "show proc")
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "master":
                    return str(int(parts[2]))
            return None
        return int(wait_for("show proc on the master socket", once, 10, 0.05))

    def cpu_seconds(self):
        f = open(f"/proc/{self.agent.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def haproxy_cpu_seconds(self):
        """CPU time of HAProxy's master and its current worker so far (0 when unreadable)."""
        def cpu(pid):
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        def once():  # the master CLI may refuse a connection for a moment after a start
            try:
                text = unix(os.path.join(self.run, "internal.master.sock"), "show proc")
            except OSError:
                return None
            pids = [int(line.split()[0]) for line in text.splitlines()
                    if len(line.split()) > 2 and line.split()[1] in ("master", "worker")]
            return pids or None
        try:
            return sum(cpu(p) for p in wait_for("show proc on the master socket", once, 10, 0.05))
        except (OSError, ValueError, RuntimeError):
            return 0.0

    def rss_mb(self):
        for line in open(f"/proc/{self.agent.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0

    def stop(self):
        if self.agent and self.agent.poll() is None:
            self.agent.terminate()
            self.agent.wait(timeout=60)  # its long polls end within their wait (30 s)
        try:
            os.kill(int(open(os.path.join(self.run, "internal.pid")).read().split()[0]), 15)
        except (OSError, ValueError, IndexError):
            pass
        self.sandbox.terminate()
        self.sandbox.wait(timeout=30)
        self.backends.stop()


class Backends:
    """Real HTTP servers on 127.0.0.1 ports: 200 on every path, body "port <n>"."""

    def __init__(self):
        self.servers = {}

    def start(self, port):
        class H(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = f"port {port}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *a):
                pass

        class Server(http_server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # health checks close early: not worth a traceback

        srv = Server(("127.0.0.1", port), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers[port] = srv

    def stop(self):
        for srv in self.servers.values():
            srv.shutdown()
            srv.server_close()


def frontend_port(run_dir, env, name):
    """The measured backend's frontend port, from the config the agent wrote."""
    text = open(os.path.join(run_dir, "internal.cfg")).read()
    m = re.search(rf"^frontend internal_http_in_{re.escape(env)}:{re.escape(name)}\n"
                  rf"    bind {re.escape(ADDR)}:(\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def answered(port, ports):
    """One request through HAProxy; true when one of `ports` (real servers) answered it."""
    c = socket.create_connection((ADDR, port), timeout=0.5)
    try:
        c.settimeout(0.5)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        c.close()
    return data.split(b"\r\n", 1)[0].endswith(b" 200 OK") and any(f"port {p}".encode() in data for p in ports)


def one_change_requests(s, name, env):
    """Consul requests the agent made for one server added (once it has settled)."""
    time.sleep(1.5)
    before = s.consul_requests()
    s.register(name, env, 999_001, 40001)
    wait_for("the added server", lambda: s.has_port(f"cluster_{env}:{name}", 40001, True), 10, 0.01)
    time.sleep(1.5)
    after = s.consul_requests()
    s.deregister(name, env, 999_001)
    return after - before - 1  # minus the registration itself


def run(work, services, environments, full):
    s = Setup(work, services, environments)
    res = {}
    try:
        names = s.registered_names()
        s.publish_model()
        port = 20000
        count = 0
        mine = {}  # (name, env) -> the instance numbers registered for it
        for name, envs in names:
            for env in envs:
                for i in range(2):
                    s.register(name, env, count, port + count % 20000)
                    mine.setdefault((name, env), []).append(count)
                    count += 1
        res["servers"] = count
        name, envs = sorted(names)[0]
        env = envs[0]
        backend = f"cluster_{env}:{name}"
        real = [port + i % 20000 for i in mine[(name, env)]]
        for p in real + [39001, 39100, 39101, 40001]:
            s.backends.start(p)
        t0 = time.monotonic()
        res["start_at"] = time.time()
        s.start_agent()
        fport = wait_for("the agent's config", lambda: frontend_port(s.run, env, name), 120, 0.01)
        wait_for("a request answered through HAProxy", lambda: answered(fport, real), 120, 0.01)
        res["cold_start_s"] = time.monotonic() - t0
        res["cold_cpu_agent"] = s.cpu_seconds()
        res["cold_cpu_haproxy"] = s.haproxy_cpu_seconds()
        res["load_start"] = os.getloadavg()[0]
        wait_for("every server loaded", lambda: len(s.servers()) >= count, 120, 0.05)
        res["all_loaded_s"] = time.monotonic() - t0
        reloads0 = s.reloads()
        if full:
            # One server added, then removed (drained or gone counts as removed).
            t0, c0 = time.monotonic(), s.cpu_seconds()
            res["add_at"] = time.time()
            s.register(name, env, 900_000, 39001)
            wait_for("added", lambda: s.has_port(backend, 39001, True), 10, 0.002)
            res["add_ms"] = (time.monotonic() - t0) * 1000
            res["add_cpu_ms"] = (s.cpu_seconds() - c0) * 1000
            t0, c0 = time.monotonic(), s.cpu_seconds()
            res["remove_at"] = time.time()
            s.deregister(name, env, 900_000)
            wait_for("removed", lambda: not s.has_port(backend, 39001, True), 30, 0.002)
            res["remove_ms"] = (time.monotonic() - t0) * 1000
            res["remove_cpu_ms"] = (s.cpu_seconds() - c0) * 1000
            res["load_change"] = os.getloadavg()[0]
            # A rolling deploy of that backend: a new instance up, then an old one gone, twice.
            for k, old in enumerate(mine[(name, env)]):
                s.register(name, env, 910_000 + k, 39100 + k)
                wait_for("new", lambda: s.has_port(backend, 39100 + k, True), 10, 0.005)
                s.deregister(name, env, old)
                old_port = port + old % 20000
                wait_for("old gone", lambda: not s.has_port(backend, old_port, True), 10, 0.005)
            time.sleep(2)
            res["rolling_reloads"] = s.reloads() - reloads0
            t0c = s.cpu_seconds()
            time.sleep(10)
            res["idle_cpu_pct"] = (s.cpu_seconds() - t0c) / 10 * 100
            res["rss_mb"] = s.rss_mb()
            res["load_idle"] = os.getloadavg()[0]
        res["requests_per_change"] = one_change_requests(s, name, env)
    finally:
        s.stop()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--environments", type=int, default=3)
    ap.add_argument("--small", type=int, default=50)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="galley-agent-scale-")
    try:
        small = run(os.path.join(work, "small"), a.small, a.environments, False)
        big = run(os.path.join(work, "big"), a.services, a.environments, True)
    except Exception as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ok = True

    def line(what, value, target, good):
        nonlocal ok
        ok = ok and good
        print(f"{'PASS' if good else 'FAIL'}  {what}: {value} (target {target})")

    print(f"{a.services} services x {a.environments} environments: {big['servers']} servers")
    print(f"      CPU time until serving: agent {big['cold_cpu_agent']:.2f} s, HAProxy master + worker "
          f"{big['cold_cpu_haproxy']:.2f} s; agent CPU per change: add {big['add_cpu_ms']:.0f} ms, "
          f"remove {big['remove_cpu_ms']:.0f} ms; load average (1 min) at start "
          f"{big['load_start']:.1f}, changes {big['load_change']:.1f}, idle {big['load_idle']:.1f}")
    line("cold start to serving", f"{big['cold_start_s']:.2f} s (every server loaded "
         f"{big['all_loaded_s']:.2f} s)", "< 2 s", big["cold_start_s"] < 2)
    line("one server added", f"{big['add_ms']:.0f} ms", "< 100 ms", big["add_ms"] < 100)
    line("one server removed", f"{big['remove_ms']:.0f} ms", "< 100 ms", big["remove_ms"] < 100)
    line("reloads during a rolling deploy", big["rolling_reloads"], "0", big["rolling_reloads"] == 0)
    line("Consul requests per change", f"{big['requests_per_change']} at {a.services} services, "
         f"{small['requests_per_change']} at {a.small}", "not growing",
         big["requests_per_change"] <= small["requests_per_change"] + 1)
    line("agent CPU while idle", f"{big['idle_cpu_pct']:.2f} %", "~0 (< 1 %)", big["idle_cpu_pct"] < 1)
    line("agent RSS", f"{big['rss_mb']:.0f} MB", "< 100 MB", big["rss_mb"] < 100)
    def utc(t):
        return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    print(f"      agent log: {os.path.join(work, 'big', 'agent.log')} (agent started "
          f"{utc(big['start_at'])}, server added {utc(big['add_at'])}, removed {utc(big['remove_at'])})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
