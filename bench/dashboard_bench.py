#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The dashboard of `galley serve` at scale (issue #13): first paint < 1 s in headless chromium
and GET /api/v1/status < 50 ms with 2,000 services × 3 environments.

    dashboard_bench.py [--galley build/bin/galley] [--sandbox build/bin/galley-sandbox]
                       [--services 2000] [--environments 3] [--loads 5] [--requests 50] [--keep]

Generates the repository (bench/gen_repo.py; every environment `sync: manual`, so nothing is
applied and every cell is "pending"), starts galley-sandbox and `galley serve` on loopback,
waits for the first reconcile (one observation, status, drift and the plan of all 6,000
creates), then:
  - loads / in headless chromium (Debian's chromium + chromium-driver + python3-selenium, the
    browser cache disabled) --loads times: first-contentful-paint from the Paint Timing API and
    navigationStart → DOMContentLoaded; checks the grid has every cell;
  - GETs /api/v1/status --requests times on one keep-alive connection: median and p99;
  - GETs /ui/cells (what the page reads on each live update) the same way.
Prints the numbers and PASS/FAIL against the targets (medians; p99 printed for reference).
Every process started is stopped; every wait is bounded. Exit 0 when all targets pass."""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FCP_TARGET_MS = 1000.0
STATUS_TARGET_MS = 50.0


def wait_until(what, pred, timeout, interval=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def stop(p, grace=20):
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=10)


def percentile(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def timed_gets(port, path, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
        size = len(body)
    conn.close()
    return times, size


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--galley", default=os.path.join(ROOT, "build/bin/galley"))
    ap.add_argument("--sandbox", default=os.path.join(ROOT, "build/bin/galley-sandbox"))
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--environments", type=int, default=3)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    if a.loads < 5 or a.requests < 50:
        print("dashboard_bench: at least 5 loads and 50 requests", file=sys.stderr)
        return 2
    for exe in (a.galley, a.sandbox):
        if not os.access(exe, os.X_OK):
            print(f"dashboard_bench: {exe} is not built", file=sys.stderr)
            return 2
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("dashboard_bench: python3-selenium is not installed (bash ci/install-deps.sh)", file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="galley-dashboard-bench-")
    procs, driver = [], None
    try:
        repo = os.path.join(work, "repo")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo, "--services", str(a.services),
                        "--environments", str(a.environments)], check=True, timeout=300, stdout=subprocess.DEVNULL)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false",
               "-C", repo]
        subprocess.run(git + ["init", "-q"], check=True, timeout=60)
        subprocess.run(git + ["add", "-A"], check=True, timeout=60)
        subprocess.run(git + ["commit", "-q", "-m", "generated"], check=True, timeout=60)

        ready = os.path.join(work, "ready.json")
        sb_log = open(os.path.join(work, "sandbox.log"), "wb")
        sb = subprocess.Popen([a.sandbox, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready],
                              stdout=sb_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(sb)
        ports = wait_until("the sandbox", lambda: os.path.exists(ready) and os.path.getsize(ready) > 0 and
                           json.load(open(ready)), 30)
        env = dict(os.environ, GALLEY_MARATHON_URL=f"http://127.0.0.1:{ports['marathon_port']}",
                   GALLEY_CONSUL_URL=f"http://127.0.0.1:{ports['consul_port']}",
                   XDG_STATE_HOME=os.path.join(work, "xdg"), NO_COLOR="1", GALLEY_API_TOKEN="bench-token")
        lines, lock = [], threading.Lock()
        t_start = time.monotonic()
        serve = subprocess.Popen([a.galley, "serve", repo, "--listen", "127.0.0.1:0", "--interval", "0",
                                  "--no-webhooks", "--log-format", "json", "--state", os.path.join(work, "state.db")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                 text=True, env=env, start_new_session=True)
        procs.append(serve)

        def read():
            for line in serve.stderr:
                with lock:
                    lines.append(line)
        threading.Thread(target=read, daemon=True).start()

        def logged(pred):
            if serve.poll() is not None:
                raise RuntimeError(f"galley serve exited {serve.returncode}: {''.join(lines)[-2000:]}")
            with lock:
                for line in lines:
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    if pred(j):
                        return j
            return None

        port = wait_until("serve listening", lambda: (logged(lambda j: j.get("msg") == "listening") or {}).get("port"),
                          60)
        rec = wait_until("the first reconcile", lambda: logged(lambda j: str(j.get("msg", "")).startswith(
            "reconcile ") and "outcome" in j), 600, 0.2)
        first_reconcile = time.monotonic() - t_start
        cells = a.services * a.environments
        print(f"{a.services} services × {a.environments} environments = {cells} cells; first reconcile "
              f"{first_reconcile:.1f} s (outcome {rec.get('outcome')})", flush=True)

        # The status API and the live-update document.
        status_ms, status_size = timed_gets(port, "/api/v1/status", a.requests)
        cells_ms, cells_size = timed_gets(port, "/ui/cells", a.requests)
        page_ms, page_size = timed_gets(port, "/", 10)
        # A drill-down page and the plan page (no targets; printed for reference).
        st = json.loads(http_get(port, "/api/v1/status"))
        first = st["services"][0]
        cell_path = f"/ui/service/{first['service']}/{first['environment']}"
        cell_ms, cell_size = timed_gets(port, cell_path, 5)
        plan_ms, plan_size = timed_gets(port, "/ui/plan", 3)
        if a.keep:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/")
            with open(os.path.join(work, "page.html"), "wb") as f:
                f.write(conn.getresponse().read())
            conn.close()

        # First paint in headless chromium, the cache disabled.
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or
                                                  "/usr/bin/chromedriver"), options=opts)
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        fcp, dcl = [], []
        url = f"http://127.0.0.1:{port}/"
        for i in range(a.loads + 1):  # the first load warms chromium itself; not counted
            driver.get("about:blank")
            driver.get(url)
            m = wait_until("paint timing", lambda: driver.execute_script("""
                const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
                const n = performance.getEntriesByType('navigation')[0];
                if (!p || !n || !n.domContentLoadedEventEnd) return null;
                return [p.startTime, n.domContentLoadedEventEnd, document.querySelectorAll('#grid td').length];"""),
                30, 0.05)
            if m[2] != cells:
                raise RuntimeError(f"the grid has {m[2]} cells, expected {cells}")
            if i > 0:
                fcp.append(m[0])
                dcl.append(m[1])

        fcp_med, status_med = statistics.median(fcp), statistics.median(status_ms)
        print(f"page /: {page_size / 1024:.0f} KiB, served in median {statistics.median(page_ms):.1f} ms")
        print(f"cell page {cell_path}: {cell_size / 1024:.0f} KiB, median {statistics.median(cell_ms):.1f} ms; "
              f"plan page: {plan_size / 1024 / 1024:.1f} MiB, first {plan_ms[0]:.0f} ms, then median "
              f"{statistics.median(plan_ms[1:]):.0f} ms")
        print(f"first-contentful-paint: median {fcp_med:.0f} ms, max {max(fcp):.0f} ms over {len(fcp)} loads "
              f"({', '.join(f'{x:.0f}' for x in fcp)})")
        print(f"navigationStart → DOMContentLoaded: median {statistics.median(dcl):.0f} ms, max {max(dcl):.0f} ms")
        print(f"GET /api/v1/status ({status_size / 1024:.0f} KiB): median {status_med:.1f} ms, "
              f"p99 {percentile(status_ms, 0.99):.1f} ms over {len(status_ms)} requests")
        print(f"GET /ui/cells ({cells_size / 1024:.0f} KiB): median {statistics.median(cells_ms):.1f} ms, "
              f"p99 {percentile(cells_ms, 0.99):.1f} ms")
        ok_fcp, ok_status = fcp_med < FCP_TARGET_MS, status_med < STATUS_TARGET_MS
        print(f"{'PASS' if ok_fcp else 'FAIL'} first paint median {fcp_med:.0f} ms < {FCP_TARGET_MS:.0f} ms")
        print(f"{'PASS' if ok_status else 'FAIL'} status API median {status_med:.1f} ms < {STATUS_TARGET_MS:.0f} ms")
        return 0 if ok_fcp and ok_status else 1
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        for p in reversed(procs):
            stop(p)
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
