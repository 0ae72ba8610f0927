#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The image preflight's cost (issue #15): `galley plan` from empty over a generated repository
(N services x E environments, every app a create, one image per app) against galley-sandbox
with its registry emulator holding every image, with the check and with --skip-image-check.
Prints the plan times, the registry requests, and PASS/FAIL against the target: the check adds
at most 2 s for 1,000 images on loopback (one HEAD per distinct image, sequential).

    bench/preflight_bench.py GALLEY GALLEY_SANDBOX [--services 500] [--environments 2] [--runs 3]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("galley")
    ap.add_argument("sandbox")
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--environments", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="galley-preflight-bench-")
    sb = None
    try:
        repo = os.path.join(work, "repo")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo, "--services", str(a.services),
                        "--environments", str(a.environments)], check=True, capture_output=True, timeout=300)
        rendered = os.path.join(work, "rendered")
        subprocess.run([a.galley, "render", repo, "--out", rendered], check=True, capture_output=True, timeout=300)
        images = set()
        for root, _, files in os.walk(os.path.join(rendered, "marathon")):
            for f in files:
                images.add(json.load(open(os.path.join(root, f)))["container"]["docker"]["image"])
        ready = os.path.join(work, "ready.json")
        sb = subprocess.Popen([a.sandbox, "--marathon-port", "0", "--consul-port", "0", "--registry-port", "0",
                               "--ready-file", ready], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        end = time.monotonic() + 20
        while not (os.path.exists(ready) and os.path.getsize(ready)) and time.monotonic() < end:
            time.sleep(0.05)
        r = json.load(open(ready))
        registry = f"http://127.0.0.1:{r['registry_port']}"
        for image in images:
            ref = image.split("/", 1)[1] if "." in image.split("/", 1)[0] else image
            urllib.request.urlopen(urllib.request.Request(f"{registry}/_sandbox/images/{ref}", data=b"",
                                                          method="PUT"), timeout=10).read()
        env = {**os.environ, "GALLEY_MARATHON_URL": f"http://127.0.0.1:{r['marathon_port']}",
               "GALLEY_CONSUL_URL": f"http://127.0.0.1:{r['consul_port']}", "GALLEY_REGISTRY_URL": registry,
               "XDG_STATE_HOME": os.path.join(work, "xdg")}
        for k in list(env):
            if k.startswith("GALLEY_SECRET") or k == "GALLEY_HMAC_KEY":
                del env[k]

        def plan(*extra):
            t0 = time.monotonic()
            p = subprocess.run([a.galley, "plan", repo, "--detailed-exitcode", *extra], env=env,
                               capture_output=True, text=True, timeout=600)
            dt = time.monotonic() - t0
            if p.returncode != 2:
                raise RuntimeError(f"plan exited {p.returncode}: {p.stderr[-2000:]}")
            return dt

        plan("--skip-image-check")  # warm the store
        with_check, without = [], []
        for _ in range(a.runs):
            without.append(plan("--skip-image-check"))
            with_check.append(plan())
        w, wo = statistics.median(with_check), statistics.median(without)
        added = max(0.0, w - wo)
        budget = 2.0 * len(images) / 1000.0
        print(f"preflight: {a.services} services x {a.environments} environments, {len(images)} images "
              f"({len(images) + 1} registry requests: one ping, one HEAD each)")
        print(f"  plan with the check    {w:.2f} s (median of {a.runs})")
        print(f"  plan --skip-image-check {wo:.2f} s")
        print(f"  added by the check     {added:.2f} s ({1000 * added / max(1, len(images)):.2f} ms per image); "
              f"target <= {budget:.2f} s: {'PASS' if added <= budget else 'FAIL'}")
        return 0 if added <= budget else 1
    finally:
        if sb and sb.poll() is None:
            sb.send_signal(signal.SIGTERM)
            try:
                sb.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(sb.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
