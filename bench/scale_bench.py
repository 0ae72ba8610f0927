#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scale benchmark on a platform galley itself applied (issue #14).

    scale_bench.py --galley build/bin/galley --sandbox build/bin/galley-sandbox
                   [--services 4000] [--environments 3] [--runs 5] [--concurrency 100]
                   [--health-delay 200] [--json FILE] [--keep]
    scale_bench.py --smoke --galley ... --sandbox ...     # CI: 10 x 2, checks only

Generates SERVICES x ENVIRONMENTS with gen_repo.py (its `paused: true` lines removed, so
every service x environment is deployed) and starts one galley-sandbox (simulated tasks,
service ports from --local-port-min 10000 to --local-port-max 65535 so 4,000 x 3 fits, no
task cap). Then, each galley command timed as a whole process (os.wait4: wall and the
child's own peak RSS):

1. `galley plan --json` against the EMPTY platform (the first plan);
2. `galley apply --auto-approve --concurrency C` from empty: the platform, the applied
   records in Consul and the HMAC key are galley's own;
3. `galley plan --json` converged: a warm-up, then RUNS runs (median/min/max wall, peak RSS,
   the request count from --json, 0 changes asserted);
4. `galley drift --json`: the same;
5. the state store's growth from ONE converged plan (the file after a WAL checkpoint,
   before and after, and the rows it added).

Prints PASS/FAIL per target of issue #14 that exists at this size (4,000 x 3: plan and
drift < 3 s and < 300 MB, first plan < 4 s and < 300 MB, apply from empty < 400 MB,
request count unchanged; 2,000 x 3: plan < 1.5 s, a converged plan adds < 1 MB to the
store); other sizes get the numbers and the checks (convergence, 0 changes, constant
requests) only. Exit 0 when every target and check holds, 1 when one is missed, 2 on an
error. Stdlib only (/usr/bin/python3).
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from apply_bench import Sandbox, run_timed, secret_env, unpause  # noqa: E402

# (services, environments) -> the targets of issue #14 at that size.
TARGETS = {
    (4000, 3): {"plan_s": 3.0, "plan_mb": 300, "drift_s": 3.0, "drift_mb": 300, "first_s": 4.0,
                "first_mb": 300, "apply_mb": 400},
    (2000, 3): {"plan_s": 1.5, "store_growth_mb": 1.0},
}
results = []  # (name, ok)


def verdict(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    results.append((what, ok))


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    results.append((what, ok))


def stats(vals):
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals)}


def fmt_stats(s, unit):
    return f"median {s['median']:.2f} {unit} (min {s['min']:.2f}, max {s['max']:.2f})"


def galley_json(a, work, cmd, env, tag, ok_codes=(0, 2)):
    """One timed galley command whose stdout is JSON: (timing, document)."""
    out = os.path.join(work, f"{tag}.json")
    err = os.path.join(work, f"{tag}.err")
    with open(out, "w") as o, open(err, "w") as e:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    if rc not in ok_codes:
        sys.stderr.write(open(err).read()[-2000:])
        raise SystemExit(f"scale_bench: {' '.join(cmd[:2])} exited {rc}")
    return ({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024.0, "rc": rc},
            json.load(open(out)))


def store_bytes(path):
    """The state file's size after folding the WAL in (what the store holds, not its WAL)."""
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        rows = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("runs", "observations", "plans", "journal")}
        try:
            rows["observation_heads"] = db.execute("SELECT count(*) FROM observation_heads").fetchone()[0]
        except sqlite3.OperationalError:
            pass  # a galley before schema 4
    finally:
        db.close()
    return os.path.getsize(path), rows


def bench(a, work):
    size = (a.services, a.environments)
    targets = {} if a.smoke else TARGETS.get(size, {})
    repo = os.path.join(work, "repo")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_repo.py"), repo, "--services", str(a.services),
                    "--environments", str(a.environments)], check=True, stdout=subprocess.DEVNULL)
    unpause(repo)
    env = dict(os.environ, **secret_env(repo))
    env.pop("GALLEY_HMAC_KEY", None)  # galley's own key, created in Consul by the apply
    load = os.getloadavg()
    print(f"scale_bench: {a.services} services x {a.environments} environments, load {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cpus", flush=True)
    sb = Sandbox(a.sandbox, work, "scale", ["--health-delay", str(a.health_delay), "--local-port-min", "10000",
                                            "--local-port-max", "65535", "--max-tasks", "1000000"])
    out = {"services": a.services, "environments": a.environments, "load_before": load}
    try:
        state = os.path.join(work, "state.db")
        common = ["--marathon", sb.marathon, "--consul", sb.consul, "--state", state]
        plan_cmd = [a.galley, "plan", repo, *common, "--json"]

        first, doc = galley_json(a, work, plan_cmd, env, "first-plan")
        n_actions, first_requests = len(doc["actions"]), doc["observed"]["requests"]
        print(f"first plan (empty platform, {n_actions} actions): {first['wall']:.2f} s (cpu {first['cpu']:.2f} s), "
              f"peak RSS {first['peak_mb']:.0f} MB, {first_requests} requests", flush=True)
        out["first_plan"] = dict(first, actions=n_actions, requests=first_requests)

        apply = run_timed([a.galley, "apply", repo, *common, "--auto-approve", "--concurrency",
                           str(a.concurrency)], env, os.path.join(work, "apply.log"))
        print(f"apply from empty (--concurrency {a.concurrency}): {apply['wall']:.1f} s "
              f"(cpu {apply['user'] + apply['sys']:.1f} s), "
              f"peak RSS {apply['peak_mb']:.0f} MB, exit {apply['rc']}", flush=True)
        out["apply"] = apply
        failed_steps = [x.strip() for x in open(os.path.join(work, "apply.log")) if "failed:" in x][:5]
        out["apply_failed_steps"] = failed_steps
        # A failed step is reported and the measurements go on (the plans then show it).
        check(apply["rc"] == 0, "galley apply from empty exits 0" +
              ("" if apply["rc"] == 0 else f" (exit {apply['rc']}: {'; '.join(failed_steps)[:400]})"))

        galley_json(a, work, plan_cmd, env, "warm-up")
        plans, changes, requests = [], [], set()
        for i in range(a.runs):
            t, doc = galley_json(a, work, plan_cmd, env, f"plan-{i}")
            plans.append(t)
            changes.append(len(doc["actions"]))
            requests.add(doc["observed"]["requests"])
            apps, keys = doc["observed"]["apps"], doc["observed"]["keys"]
        ps = {"wall": stats([t["wall"] for t in plans]), "cpu": stats([t["cpu"] for t in plans]),
              "peak_mb": stats([t["peak_mb"] for t in plans])}
        print(f"converged plan over {apps} apps and {keys} keys, {a.runs} runs: {fmt_stats(ps['wall'], 's')}; "
              f"cpu {fmt_stats(ps['cpu'], 's')}; "
              f"peak RSS {fmt_stats(ps['peak_mb'], 'MB')}; requests {sorted(requests)}; changes {changes}",
              flush=True)
        out["plan"] = dict(ps, requests=sorted(requests), changes=changes, apps=apps, keys=keys)
        check(all(c == 0 for c in changes), "the converged plan has 0 changes after galley's own apply"
              + ("" if all(c == 0 for c in changes) else
                 f" ({sorted({x['kind'] + ' ' + x['target'] for x in doc['actions']})[:5]})"))
        check(requests == {first_requests},
              f"request count unchanged: {sorted(requests)} converged vs {first_requests} on the empty platform")

        drift_cmd = [a.galley, "drift", repo, *common, "--json"]
        drifts, drifted = [], []
        for i in range(a.runs):
            t, doc = galley_json(a, work, drift_cmd, env, f"drift-{i}")
            drifts.append(t)
            drifted.append(len(doc.get("drift", [])))
            requests.add(doc["observed"]["requests"])
        ds = {"wall": stats([t["wall"] for t in drifts]), "cpu": stats([t["cpu"] for t in drifts]),
              "peak_mb": stats([t["peak_mb"] for t in drifts])}
        print(f"drift, {a.runs} runs: {fmt_stats(ds['wall'], 's')}; cpu {fmt_stats(ds['cpu'], 's')}; "
              f"peak RSS {fmt_stats(ds['peak_mb'], 'MB')}; "
              f"drifted {drifted}", flush=True)
        out["drift"] = dict(ds, drifted=drifted)
        check(all(d == 0 for d in drifted), "drift finds nothing on galley's own platform")

        before, rows_before = store_bytes(state)
        galley_json(a, work, plan_cmd, env, "store-plan")
        after, rows_after = store_bytes(state)
        growth = (after - before) / 1e6
        added = {t: rows_after[t] - rows_before.get(t, 0) for t in rows_after}
        print(f"state store: {before / 1e6:.2f} MB before one converged plan, {after / 1e6:.2f} MB after "
              f"(+{growth:.3f} MB); rows added {added}", flush=True)
        out["store"] = {"before_bytes": before, "after_bytes": after, "rows_added": added, "rows": rows_after}

        t = targets
        if "first_s" in t:
            verdict(first["wall"] < t["first_s"] and first["peak_mb"] < t["first_mb"],
                    f"first plan {first['wall']:.2f} s < {t['first_s']} s and {first['peak_mb']:.0f} MB "
                    f"< {t['first_mb']} MB")
        if "plan_s" in t:
            ok = ps["wall"]["median"] < t["plan_s"]
            what = f"converged plan median {ps['wall']['median']:.2f} s < {t['plan_s']} s"
            if "plan_mb" in t:
                ok = ok and ps["peak_mb"]["max"] < t["plan_mb"]
                what += f" and {ps['peak_mb']['max']:.0f} MB < {t['plan_mb']} MB"
            verdict(ok, what)
        if "drift_s" in t:
            verdict(ds["wall"]["median"] < t["drift_s"] and ds["peak_mb"]["max"] < t["drift_mb"],
                    f"drift median {ds['wall']['median']:.2f} s < {t['drift_s']} s and "
                    f"{ds['peak_mb']['max']:.0f} MB < {t['drift_mb']} MB")
        if "apply_mb" in t:
            verdict(apply["peak_mb"] < t["apply_mb"],
                    f"apply from empty peak {apply['peak_mb']:.0f} MB < {t['apply_mb']} MB")
        if "store_growth_mb" in t:
            verdict(growth < t["store_growth_mb"],
                    f"one converged plan adds {growth:.3f} MB < {t['store_growth_mb']} MB to the store")
        if not t:
            print(f"(no issue #14 target at {a.services} x {a.environments}: numbers and checks only)")
    finally:
        sb.stop()
        out["load_after"] = os.getloadavg()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--galley", required=True)
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--services", type=int, default=4000)
    ap.add_argument("--environments", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--health-delay", type=int, default=200, help="sandbox: ms until a task is healthy")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--smoke", action="store_true", help="10 x 2, 2 runs: the checks, no targets")
    a = ap.parse_args()
    if a.smoke:
        a.services, a.environments, a.runs, a.health_delay = 10, 2, 2, 20
    for binary in (a.galley, a.sandbox):
        if not os.access(binary, os.X_OK):
            print(f"scale_bench: {binary} is not executable", file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="galley-scale-bench-")
    try:
        # The same binaries throughout, even if build/ is rebuilt meanwhile.
        for name in ("galley", "sandbox"):
            copy = os.path.join(work, os.path.basename(getattr(a, name)) + "-bench")
            shutil.copy2(getattr(a, name), copy)
            setattr(a, name, copy)
        out = bench(a, work)
        out["results"] = [{"what": w, "ok": ok} for w, ok in results]
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=2)
        failed = [w for w, ok in results if not ok]
        print(f"scale_bench: {len(results) - len(failed)} passed, {len(failed)} failed")
        return 1 if failed else 0
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 2
        raise
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
