#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Zero failed requests through the traffic path (issue #12), galley's agent against the seed's
way, and propagation times. Loopback only (bench/agent_lab.py: sandbox with real
galley-testserver tasks on nodes 127.0.0.2 and 127.0.0.3, one agent + HAProxy per node).

    bench/agent_traffic.py [--reps 5] [--peer-reps 5] [--skip-peer] [--smoke]

Per repetition, under keep-alive load from Debian's `wrk` (2 threads, 16 connections) through
node a's HAProxy listen port to test-server's production tasks:
  1. galley applies a new tag (a rolling restart of 4 tasks, min_health 0.5),
  2. scales 4 -> 8 -> 2 -> 4 (three applies),
  3. kills a task by hand (DELETE /v2/apps/<app>/tasks/<id>: Marathon replaces it).
Target: 0 non-2xx responses and 0 socket errors in every repetition, at >= 500 req/s.

The peer ("the seed's way"): no galley agent; a loop standing in for registrator +
consul-template polls Marathon every 0.5 s, and on any change of the running tasks re-renders
the whole HAProxy config (`galley render --instances`) and reloads HAProxy (`haproxy -sf`, as
consul-template's command did). It knows a task only while Marathon lists it running, as
registrator knew a container only while Docker ran it, so a task being killed stays in the
config until it is gone. Same load, same changes; its error count is printed beside galley's.

Propagation (galley only): a task turning healthy in Marathon -> first request served by it
through HAProxy (median, p99 over the scale-up's new tasks), and a task being killed -> the last
request it served through HAProxy after Marathon reported TASK_KILLING.
Exit 0 PASS, 1 FAIL, 2 error."""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_lab import APP, BIN, Lab, http, wait_for  # noqa: E402

WRK_THREADS, WRK_CONNS = 2, 16


def parse_wrk(text):
    out = {"requests": 0, "non2xx": 0, "socket_errors": 0, "rps": 0.0}
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
    return out


class Wrk:
    def __init__(self, url, seconds):
        self.p = subprocess.Popen(["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{seconds}s", url],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self):
        out, _ = self.p.communicate(timeout=600)
        r = parse_wrk(out)
        r["raw"] = out
        return r


def running_tasks(lab):
    return [t for t in lab.app().get("tasks", []) if t["state"] == "TASK_RUNNING"]


def wait_converged(lab, n, timeout=120):
    def ok():
        a = lab.app()
        return (a["instances"] == n and a["tasksHealthy"] == n and a["tasksRunning"] == n
                and not a.get("deployments"))
    wait_for(f"{n} healthy tasks and no deployment", ok, timeout, 0.2)


def scenario(lab, rep, log):
    """The changes of one repetition; returns their duration in seconds."""
    t0 = time.monotonic()
    lab.set_tag(f"bench-{rep}-{int(time.time())}")
    lab.apply()
    for n in (8, 2, 4):
        lab.set_instances(n)
        lab.apply()
    victim = running_tasks(lab)[0]["id"]
    status, text = http("DELETE", f"{lab.marathon}/v2/apps{APP}/tasks/{victim}")
    if status != 200:
        raise RuntimeError(f"kill {victim}: {status} {text[:200]}")
    time.sleep(1)
    wait_converged(lab, 4)
    log(f"  rep {rep}: changes took {time.monotonic() - t0:.1f} s")
    return time.monotonic() - t0


def run_under_load(lab, rep, seconds, log):
    wrk = Wrk(lab.url("a"), seconds)
    time.sleep(1)
    took = scenario(lab, rep, log)
    r = wrk.result()
    if took + 1 > seconds:
        log(f"  warning: the changes ({took:.0f} s) outlasted the load ({seconds} s)")
    return r


# --- the peer: re-render and reload on every change ----------------------------------------

class SeedLoop:
    """registrator + consul-template, collapsed: poll Marathon, render, `haproxy -sf`."""

    def __init__(self, lab, node):
        self.lab, self.node = lab, node
        self.dir = os.path.join(lab.work, f"seed-{node}")
        os.makedirs(self.dir, exist_ok=True)
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.pidfile = os.path.join(self.dir, "haproxy.pid")
        self.reloads = 0
        self.stop_flag = threading.Event()
        self.last = None
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def instances(self):
        app = self.lab.app()
        out = []
        for t in app.get("tasks", []):
            if t["state"] not in ("TASK_RUNNING", "TASK_KILLING"):  # the process still exists
                continue
            node_addr = dict(self.lab.nodes).get(t["host"], t["host"])
            out.append({"Node": {"Node": t["host"], "Address": node_addr},
                        "Service": {"ID": t["id"], "Service": "test-server", "Tags": ["production"],
                                    "Address": node_addr, "Port": t["ports"][0]},
                        "Checks": [{"Status": "passing"}]})
        return sorted(out, key=lambda i: (i["Node"]["Node"], i["Service"]["Port"]))

    def render_and_reload(self, inst):
        f = os.path.join(self.dir, "instances.json")
        json.dump({"test-server": inst}, open(f, "w"))
        out = os.path.join(self.dir, "render")
        subprocess.run([os.path.join(BIN, "galley"), "render", self.lab.repo, "--format", "haproxy-internal",
                        "--instances", f], check=True, stdout=open(self.cfg + ".tmp", "w"),
                       stderr=subprocess.DEVNULL)
        text = open(self.cfg + ".tmp").read()
        addr = dict(self.lab.nodes)[self.node]
        text = re.sub(r"bind :(\d+)", lambda m: f"bind {addr}:{m.group(1)}", text)
        text = re.sub(r"^\s*(stats socket|stats timeout|master-worker|log ).*\n", "", text, flags=re.M)
        open(self.cfg, "w").write(text)
        args = ["haproxy", "-D", "-f", self.cfg, "-p", self.pidfile]
        if os.path.exists(self.pidfile):
            args += ["-sf", *open(self.pidfile).read().split()]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.reloads += 1

    def loop(self):
        while not self.stop_flag.is_set():
            try:
                inst = self.instances()
                if inst != self.last:
                    self.render_and_reload(inst)
                    self.last = inst
            except Exception as e:  # keep polling, as consul-template would
                print(f"  seed loop: {e}", file=sys.stderr)
            self.stop_flag.wait(0.5)

    def start(self):
        self.render_and_reload(self.instances())
        self.last = self.instances()
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=10)
        try:
            for pid in open(self.pidfile).read().split():
                os.kill(int(pid), signal.SIGTERM)
        except (OSError, ValueError):
            pass


# --- propagation ---------------------------------------------------------------------------

def propagation(lab, log):
    """Scale 4 -> 6: for each new task, healthy-in-Marathon -> first served through HAProxy."""
    before = {t["id"] for t in running_tasks(lab)}
    lab.set_instances(6)
    healthy_at, served_at = {}, {}
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            status, text = http("GET", lab.url("a"), timeout=2)
            m = re.search(r"^MESOS_TASK_ID=(.*)$", text, re.M) if status == 200 else None
            if m and m.group(1) not in before and m.group(1) not in served_at:
                served_at[m.group(1)] = time.monotonic()

    def watcher():
        while not stop.is_set():
            for t in lab.app().get("tasks", []):
                if t["id"] in before or t["id"] in healthy_at:
                    continue
                if t.get("healthCheckResults") and all(h.get("alive") for h in t["healthCheckResults"]):
                    healthy_at[t["id"]] = time.monotonic()
            time.sleep(0.02)

    threads = [threading.Thread(target=prober, daemon=True) for _ in range(4)]
    threads.append(threading.Thread(target=watcher, daemon=True))
    for t in threads:
        t.start()
    lab.apply()
    wait_for("the new tasks served", lambda: len(served_at) >= 2, 30, 0.1)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    delays = sorted(served_at[t] - healthy_at[t] for t in served_at if t in healthy_at)
    lab.set_instances(4)
    lab.apply()
    return delays


def kill_cutoff(lab, log):
    """Kill one task by hand: how long after Marathon reported TASK_KILLING did it still get
    new requests through HAProxy (the test server keeps serving after SIGTERM)."""
    victim = running_tasks(lab)[0]["id"]
    last_served = [None]
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            status, text = http("GET", lab.url("a"), timeout=2)
            if status == 200 and f"MESOS_TASK_ID={victim}\n" in text:
                last_served[0] = time.monotonic()

    threads = [threading.Thread(target=prober, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    killed_at = time.monotonic()  # DELETE answers once Marathon has started the kill
    http("DELETE", f"{lab.marathon}/v2/apps{APP}/tasks/{victim}")
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    wait_converged(lab, 4)
    return None if last_served[0] is None else max(0.0, last_served[0] - killed_at)


def pct(xs, p):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--peer-reps", type=int, default=None)
    ap.add_argument("--seconds", type=int, default=0, help="load per repetition (0: sized to the changes)")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one repetition, no peer, no propagation")
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.skip_peer = 1, True
    peer_reps = a.reps if a.peer_reps is None else a.peer_reps
    log = lambda s: print(s, flush=True)  # noqa: E731
    ok = True
    work = tempfile.mkdtemp(prefix="galley-agent-bench-")
    lab = Lab(work)
    results = {"galley": [], "seed": []}
    try:
        lab.start(instances=4)
        lab.apply()
        wait_converged(lab, 4)
        for node, _ in lab.nodes:
            lab.start_agent(node)
        wait_for("node a's HAProxy serving 4 tasks", lambda: lab.serving("a", 4), 30, 0.2)
        # Size the load to the changes: time one scenario first (outside the counted runs).
        seconds = a.seconds
        if not seconds:
            wrk = Wrk(lab.url("a"), 120)
            took = scenario(lab, 0, log)
            wrk.p.send_signal(signal.SIGINT)
            wrk.p.communicate(timeout=30)
            seconds = int(took * 1.3) + 4
        log(f"galley agent: {a.reps} repetitions of {seconds} s load")
        for rep in range(1, a.reps + 1):
            r = run_under_load(lab, rep, seconds, log)
            results["galley"].append(r)
            log(f"  rep {rep}: {r['requests']} requests, {r['rps']:.0f} req/s, non-2xx {r['non2xx']}, "
                f"socket errors {r['socket_errors']}")
        if not a.smoke:
            delays = propagation(lab, log)
            cutoff = kill_cutoff(lab, log)
            log(f"propagation: healthy in Marathon -> served through HAProxy: median "
                f"{statistics.median(delays) * 1000 if delays else float('nan'):.0f} ms, p99 "
                f"{pct(delays, 99) * 1000:.0f} ms over {len(delays)} tasks (target < 1000 / < 2000 ms)")
            log(f"kill -> last request reaching the task: "
                f"{'none after the kill' if cutoff is None else f'{cutoff * 1000:.0f} ms'} (target <= 200 ms)")
            if delays and not (statistics.median(delays) < 1.0 and pct(delays, 99) < 2.0):
                ok = False
            if cutoff is not None and cutoff > 0.2:
                ok = False
        if not a.skip_peer:
            for node in list(lab.agents):
                lab.stop_agent(node)
            for node, _ in lab.nodes:  # the agents' HAProxy off the node address
                pid = lab.haproxy_pid(node)
                if pid:
                    os.kill(pid, signal.SIGTERM)
            time.sleep(1)
            seed = SeedLoop(lab, "a")
            seed.start()
            wait_for("the seed loop's HAProxy serving", lambda: lab.serving("a", 4), 30, 0.2)
            log(f"the seed's way (re-render + haproxy -sf on every change): {peer_reps} repetitions")
            for rep in range(1, peer_reps + 1):
                r = run_under_load(lab, 100 + rep, seconds, log)
                results["seed"].append(r)
                log(f"  rep {rep}: {r['requests']} requests, {r['rps']:.0f} req/s, non-2xx {r['non2xx']}, "
                    f"socket errors {r['socket_errors']}, reloads so far {seed.reloads}")
            seed.stop()
    except Exception as e:
        print(f"error: {e}", file=sys.stderr)
        for name in ("agent-a", "agent-b", "sandbox"):
            print(f"--- {name}.log\n{lab.tail(name)}", file=sys.stderr)
        lab.stop()
        return 2
    lab.stop()
    print("\n| run | requests | req/s | non-2xx | socket errors |")
    print("| --- | --- | --- | --- | --- |")
    for who in ("galley", "seed"):
        for i, r in enumerate(results[who], 1):
            print(f"| {who} {i} | {r['requests']} | {r['rps']:.0f} | {r['non2xx']} | {r['socket_errors']} |")
    for r in results["galley"]:
        if r["non2xx"] or r["socket_errors"] or r["rps"] < 500:
            ok = False
    total = lambda rs: sum(r["non2xx"] + r["socket_errors"] for r in rs)  # noqa: E731
    seed = results["seed"]
    seed_text = f"{total(seed)} in {len(seed)} runs" if seed else "not run"
    print(f"\nfailed requests: galley {total(results['galley'])} in {len(results['galley'])} runs, "
          f"the seed's way {seed_text}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
