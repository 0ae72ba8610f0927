#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tests of ci/check_layering.py: it fails, naming file and line, on each deliberate violation
in tests/testdata/layering/ and on nothing else there; it reads the table's notes and
"everything except"; it refuses a tree whose folders the table does not cover. Without
these, a checker that found nothing would pass as silently as a clean tree.

Usage: test_check_layering.py [SOURCE_ROOT]   (default: this checkout)
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = None
FIXTURE = None


def run(root):
    p = subprocess.run([sys.executable, CHECKER, root], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


class CheckLayeringTest(unittest.TestCase):
    def test_fixture_violations_are_named_by_file_and_line(self):
        code, out, err = run(FIXTURE)
        self.assertEqual(code, 1, out + err)
        self.assertEqual(out.splitlines(), [
            'reconciler/base/wrong_way.cc:4: base includes "engine/plan.h" but ARCHITECTURE.md allows only base',
            'reconciler/cli/main.cc:5: cli includes "sandbox/common/faults.h" but ARCHITECTURE.md allows only '
            'base, net, clients, engine, cli',
            'reconciler/engine/sub/deep.h:3: engine includes "net/http.h" but ARCHITECTURE.md allows only '
            'base, clients, engine',
            'reconciler/net/http.cc:3: net includes "../clients/client.h" but ARCHITECTURE.md allows only base, net',
            'reconciler/sandbox/marathon/emulator.cc:3: sandbox includes "engine/plan.h" but ARCHITECTURE.md '
            'allows only base, net, sandbox',
        ])
        self.assertIn("5 include(s) against the layering", err)

    def test_every_marked_violation_is_reported(self):
        # The fixture marks its violations; each one must appear (a checker that misses one
        # fails here even if someone "fixes" the expected list above).
        _, out, _ = run(FIXTURE)
        marked = []
        for dirpath, _, files in os.walk(os.path.join(FIXTURE, "reconciler")):
            for name in files:
                path = os.path.join(dirpath, name)
                if not name.endswith((".h", ".cc")):
                    continue
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if "// violation" in line:
                            marked.append(f"{os.path.relpath(path, FIXTURE)}:{n}:")
        self.assertEqual(len(marked), 5)
        for m in marked:
            self.assertIn(m, out)

    def test_clean_tree_passes(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(FIXTURE, tmp, dirs_exist_ok=True)
            for rel in ["reconciler/base/wrong_way.cc", "reconciler/net/http.cc", "reconciler/engine/sub/deep.h",
                        "reconciler/sandbox/marathon/emulator.cc", "reconciler/cli/main.cc"]:
                path = os.path.join(tmp, rel)
                with open(path, encoding="utf-8") as f:
                    kept = [l for l in f if "// violation" not in l]
                with open(path, "w", encoding="utf-8") as f:
                    f.writelines(kept)
            code, out, err = run(tmp)
            self.assertEqual(code, 0, out + err)
            self.assertIn("all allowed by ARCHITECTURE.md", out)

    def test_a_folder_without_a_row_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(FIXTURE, tmp, dirs_exist_ok=True)
            os.makedirs(os.path.join(tmp, "reconciler", "server"))
            code, _, err = run(tmp)
            self.assertEqual(code, 2)
            self.assertIn("no row for reconciler/server/", err)

    def test_a_tree_without_the_table_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "reconciler", "base"))
            with open(os.path.join(tmp, "ARCHITECTURE.md"), "w", encoding="utf-8") as f:
                f.write("# no table\n")
            code, _, err = run(tmp)
            self.assertEqual(code, 2)
            self.assertIn("no '| module | job | may use |' table", err)

    def test_table_parsing(self):
        sys.path.insert(0, os.path.dirname(CHECKER))
        try:
            import check_layering
        finally:
            sys.path.pop(0)
        table = check_layering.parse_table(
            "| module | job | may use |\n|---|---|---|\n"
            "| `base/` | x | std, POSIX |\n"
            "| `store/` | x | base, SQLite |\n"
            "| `engine/` | x | base, store (interface), yaml-cpp |\n"
            "| `cli/` | x | everything |\n"
            "| `tool/` | x | everything but `cli`, `engine` |\n")
        self.assertEqual(table["base"], {"base"})
        self.assertEqual(table["engine"], {"base", "store", "engine"})
        self.assertEqual(table["cli"], {"base", "store", "engine", "cli", "tool"})
        self.assertEqual(table["tool"], {"base", "store", "tool"})
        with self.assertRaises(check_layering.TableError):
            check_layering.parse_table("| module | job | may use |\n|---|---|---|\n| `a/` | x | everything except `b` |\n")

    def test_this_checkout_follows_its_table(self):
        code, out, err = run(SOURCE_ROOT)
        self.assertEqual(code, 0, out + err)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        SOURCE_ROOT = os.path.abspath(sys.argv.pop(1))
    CHECKER = os.path.join(SOURCE_ROOT, "ci", "check_layering.py")
    FIXTURE = os.path.join(SOURCE_ROOT, "tests", "testdata", "layering")
    unittest.main(verbosity=1)
