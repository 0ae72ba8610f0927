#!/usr/bin/env python3
"""The `galley serve` dashboard in a real browser: Debian's chromium (headless) driven by
chromium-driver + python3-selenium, against the built galley serving the reference example from
a Git work tree (staging `sync: auto`, production `manual`) and a galley-sandbox, all on
loopback. It checks what a person sees and clicks:

  1 the grid shows every service × environment with its state (staging in sync, production
    pending), the leader state and the live-update marker;
  2 a pending production cell drills down to the plan's actions for it;
  3 the plan page shows the plan as it would be posted on a pull request;
  4 the apply button with a wrong token is refused (403), with the right one applies the
    manual plan: while it runs, cells show "deploying" and its progress line, then the
    production cells turn "in sync" — all through the live update (SSE), without a reload;
  5 a hand change in the sandbox (instances scaled, a KV value set to HTML) shows as "drifted"
    after a reconcile trigger, again without a reload; clicking the cell shows the field diff,
    with the hostile value as text (no element injected);
  6 /ui/events is text/event-stream and starts with retry + hello.

Skips (exit 77, ctest SKIP_RETURN_CODE) only when chromium, chromedriver or selenium is
absent — unless GALLEY_REQUIRE_BROWSER=1 (ci/test.sh), where that is a failure.
Usage: test_dashboard.py GALLEY GALLEY_SANDBOX SOURCE_ROOT"""
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

SKIP = 77
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_missing():
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed"
    if not os.path.exists(CHROMEDRIVER):
        return "chromium-driver is not installed"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    return ""


def new_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,1000", "--disable-extensions", "--no-first-run"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def cells(driver):
    """{(service, environment): text} of the grid as the browser shows it."""
    js = """
      const envs = [...document.querySelectorAll('#grid thead th')].slice(1)
          .map(th => th.firstChild.textContent.trim());
      const out = [];
      for (const tr of document.querySelectorAll('#grid tbody tr')) {
        const tds = tr.querySelectorAll('td');
        tds.forEach((td, i) => out.push([tr.querySelector('th').textContent, envs[i], td.textContent]));
      }
      return out;"""
    return {(s, e): text for s, e, text in driver.execute_script(js)}


def main():
    missing = browser_missing()
    if missing:
        print(f"SKIP: {missing}")
        if os.environ.get("GALLEY_REQUIRE_BROWSER") == "1":
            print("GALLEY_REQUIRE_BROWSER=1: a missing browser is a failure")
            return 1
        return SKIP
    import test_apply_cli as t  # reads argv: GALLEY GALLEY_SANDBOX SOURCE_ROOT
    from test_serve_cli import Serve, TOKEN
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    work = tempfile.mkdtemp(prefix="galley-dashboard-")
    driver = None
    try:
        # Tasks turn healthy after 1.5 s, so an apply runs long enough to be watched.
        sb = t.Sandbox(work, "sandbox", "--health-delay", "1500")
        repo = t.Repo(work, "repo", git=True)
        repo.edit("galley.yaml", 'staging: {port_prefix: "1", host_prefix: "staging-"}',
                  'staging: {port_prefix: "1", host_prefix: "staging-", sync: auto}', "staging auto")
        g = t.Galley(sb, work, "state.db")
        s = Serve(g, repo.dir)
        s.wait_reconciles(1)
        status = json.loads(s.get("/api/v1/status")[1])
        plan = json.loads(s.get("/api/v1/plan")[1])
        services = sorted({r["service"] for r in status["services"]})
        t0 = time.monotonic()
        driver = new_driver()
        print(f"chromium started in {time.monotonic() - t0:.1f} s", flush=True)
        wait = WebDriverWait(driver, 30, poll_frequency=0.1)

        # 1. The grid.
        driver.get(s.url + "/")
        grid = cells(driver)
        t.check("1 the grid shows every service × environment",
                sorted({k[0] for k in grid}) == services and len(grid) == 2 * len(services), grid)
        t.check("1 staging cells are in sync",
                all(v == "in sync" for (svc, e), v in grid.items() if e == "staging"), grid)
        t.check("1 production cells are pending (manual)",
                all(v == "pending" for (svc, e), v in grid.items() if e == "production"), grid)
        t.check("1 the leader state is shown", driver.find_element(By.ID, "leader").text == "leader",
                driver.find_element(By.ID, "leader").text)
        wait.until(lambda d: d.find_element(By.ID, "live").text == "●")
        t.check("1 the live-update stream is connected", driver.find_element(By.ID, "live").text == "●")
        t.check("1 no token in the page", TOKEN not in driver.page_source)

        # 2. A pending production cell drills down to its plan actions.
        svc = services[0]
        row = driver.find_element(By.CSS_SELECTOR, f'#grid tbody tr[data-s="{svc}"]')
        row.find_elements(By.TAG_NAME, "td")[0].click()  # production is the first environment
        wait.until(lambda d: "/ui/service/" in d.current_url)
        t.check("2 the click opened the cell's page",
                driver.current_url.endswith(f"/ui/service/{svc}/production"), driver.current_url)
        plan_text = driver.find_element(By.ID, "plan").text
        mine = [a for a in plan["actions"] if a["service"] == svc and a["environment"] == "production"]
        t.check("2 the cell page lists the plan's actions for it",
                mine and all(a["id"] in plan_text for a in mine), plan_text[:800])

        # 3. The plan page.
        driver.get(s.url + "/ui/plan")
        md = driver.find_element(By.ID, "plan-markdown").text
        t.check("3 the plan page shows the plan as Markdown with every action",
                plan["actions"] and all(a["target"] in md for a in plan["actions"]), md[:800])
        t.check("3 ... line by line, as posted on a pull request", md.count("\n") >= len(plan["actions"]), md[:800])

        # 4. Apply from the grid: a wrong token is refused, the right one applies; the cells
        # turn in sync through the live update, without a reload.
        driver.get(s.url + "/")
        wait.until(lambda d: d.find_element(By.ID, "live").text == "●")
        driver.execute_script("window.__noReload = 'still here';")
        bar = driver.find_element(By.ID, "applybar")
        t.check("4 the apply bar shows the plan's id", bar.is_displayed() and
                plan["plan_id"] == bar.get_attribute("data-plan-id"), bar.get_attribute("outerHTML")[:300])
        driver.find_element(By.ID, "token").send_keys("wrong-token")
        driver.find_element(By.ID, "apply").click()
        wait.until(lambda d: d.find_element(By.ID, "apply-result").text.startswith("Refused"))
        t.check("4 a wrong token is refused (403)", "403" in driver.find_element(By.ID, "apply-result").text,
                driver.find_element(By.ID, "apply-result").text)
        tok = driver.find_element(By.ID, "token")
        tok.clear()
        tok.send_keys(TOKEN)
        # Record what the page shows while the apply runs (cells deploying, its progress line).
        driver.execute_script("""
          window.__seen = {deploying: false, activity: ''};
          new MutationObserver(() => {
            if ([...document.querySelectorAll('#grid td')].some(td => td.textContent === 'deploying'))
              window.__seen.deploying = true;
            const a = document.getElementById('activity').textContent;
            if (a) window.__seen.activity = a;
          }).observe(document.getElementById('main') || document.body,
                     {subtree: true, childList: true, characterData: true});""")
        n = len(s.reconciles())
        driver.find_element(By.ID, "apply").click()
        wait.until(lambda d: d.find_element(By.ID, "apply-result").text.startswith("Applied"))
        t.check("4 the apply answered applied", "applied" in driver.find_element(By.ID, "apply-result").text,
                driver.find_element(By.ID, "apply-result").text)
        s.wait_reconciles(n + 1)
        try:
            wait.until(lambda d: all(v == "in sync" for v in cells(d).values()))
        except Exception:
            pass
        grid = cells(driver)
        t.check("4 every cell turned in sync by the live update", all(v == "in sync" for v in grid.values()), grid)
        t.check("4 ... without a page reload", driver.execute_script("return window.__noReload") == "still here")
        seen = driver.execute_script("return window.__seen")
        t.check("4 while the apply ran, cells showed deploying and its progress line (live)",
                seen["deploying"] and seen["activity"], seen)
        t.check("4 the token is kept in sessionStorage, not in the page",
                driver.execute_script("return sessionStorage.getItem('galley-token')") == TOKEN and
                TOKEN not in driver.page_source)
        t.check("4 production really deployed", [i for i in sb.apps() if "/production/" in i], sorted(sb.apps()))

        # 5. Hand changes: shown as drifted after a reconcile trigger, live; the field diff on
        # the cell page, the hostile value as text.
        kv_action = next((a for a in plan["actions"] if a["id"].startswith("kv:")), None)
        target_svc = kv_action["service"] if kv_action else svc
        row = next(r for r in status["services"] if r["service"] == target_svc and r["environment"] == "production")
        app = row["app"]
        live = sb.app(app)
        sb.scale_by_hand(app, live["instances"] + 2)
        hostile = "<img src=x id=pwn onerror=\"document.title='pwned'\">&amp;"
        if kv_action:
            sb.kv_put_by_hand(kv_action["id"][3:], hostile)
        sb.wait_settled()  # a deployment running at the observation would show as "deploying"
        n = len(s.reconciles())
        code, text = s.post("/api/v1/reconcile")
        t.check("5 reconcile triggered", code == 202, f"{code} {text}")
        s.wait_reconciles(n + 1)
        try:
            wait.until(lambda d: cells(d).get((target_svc, "production")) == "drifted")
        except Exception:
            pass
        grid = cells(driver)
        t.check("5 the hand-changed cell shows drifted (live)", grid.get((target_svc, "production")) == "drifted", grid)
        t.check("5 ... without a page reload", driver.execute_script("return window.__noReload") == "still here")
        r = driver.find_element(By.CSS_SELECTOR, f'#grid tbody tr[data-s="{target_svc}"]')
        r.find_elements(By.TAG_NAME, "td")[0].click()
        wait.until(lambda d: d.current_url.endswith(f"/ui/service/{target_svc}/production"))
        drift_text = driver.find_element(By.ID, "drift").text
        t.check("5 the drill-down shows the field diff of the scale", "/instances" in drift_text, drift_text[:800])
        if kv_action:
            t.check("5 the hostile KV value is shown as text", "<img src=x id=pwn" in drift_text, drift_text[:800])
        t.check("5 ... and injected nothing", not driver.find_elements(By.ID, "pwn") and driver.title != "pwned",
                driver.title)

        # 6. The event stream itself.
        with urllib.request.urlopen(s.url + "/ui/events", timeout=10) as resp:
            ctype = resp.headers.get("Content-Type", "")
            first = b""
            while b"event: hello" not in first and len(first) < 4096:
                chunk = resp.read1(1024)
                if not chunk:
                    break
                first += chunk
        t.check("6 /ui/events is an event stream starting with retry and hello",
                ctype.startswith("text/event-stream") and first.startswith(b"retry:") and b"event: hello" in first,
                f"{ctype} {first[:200]!r}")
        rc = s.stop()
        t.check("SIGTERM with a browser's stream open: exit 0", rc == 0, s.log()[-1500:])
        sb.stop()
    except Exception as e:
        traceback.print_exc()
        t.check("the dashboard test ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        for p in t.procs:
            t.stop_process(p, 10)
        if os.environ.get("GALLEY_E2E_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = t.results.count(False)
    print(f"{len(t.results) - failed} passed, {failed} failed")
    return 1 if failed or not t.results else 0


if __name__ == "__main__":
    sys.exit(main())
