#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Time a whole command over several runs: median wall time and peak RSS.

    measure.py [--runs N] [--warmup W] [--label TEXT] [--json FILE] -- COMMAND [ARG ...]

Each run is started with its output discarded and reaped with os.wait4, so user/system
seconds and peak RSS are the kernel's accounting of the finished process. The peak is
ru_maxrss: for a shell running several commands it is the largest single descendant,
not their sum. Wall time is time.monotonic() around start and reap. Prints one line per
figure (min / median / max) and exits non-zero if any run exited non-zero.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_once(cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024.0,
            "rc": p.returncode}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--label", default="")
    ap.add_argument("--json", help="append a JSON summary line to this file")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    for _ in range(a.warmup):
        run_once(cmd)
    runs = [run_once(cmd) for _ in range(a.runs)]
    label = a.label or " ".join(cmd)
    print(f"{label}: {a.runs} runs after {a.warmup} warm-up")
    summary = {"label": label, "runs": a.runs}
    for key, unit, fmt in (("wall", "s", "{:.3f}"), ("user", "s", "{:.3f}"), ("sys", "s", "{:.3f}"),
                           ("peak_mb", "MB", "{:.1f}")):
        vals = [r[key] for r in runs]
        med = statistics.median(vals)
        summary[key] = med
        print(f"  {key:8s} median {fmt.format(med):>8s} {unit:2s}  (min {fmt.format(min(vals))}, "
              f"max {fmt.format(max(vals))})")
    codes = sorted({r["rc"] for r in runs})
    summary["exit_codes"] = codes
    print(f"  exit codes {codes}")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(summary) + "\n")
    return 0 if codes == [0] else 1


if __name__ == "__main__":
    sys.exit(main())
