#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks every #include of galley's C++ against the layering table in ARCHITECTURE.md.

Why a script: every target sees reconciler/ as an include root (galley_settings), and the
libraries link each other PUBLIC, so a wrong-way include (base including an engine header)
compiles and links. This check is what enforces the layering; ctest runs it (test
`layering`, label unit) and tests/ci/test_check_layering.py keeps it from passing silently.

The rule, read from the `| module | job | may use |` table of ARCHITECTURE.md:
  - A file under reconciler/<module>/ (subfolders included: sandbox/marathon/ is sandbox)
    may include the headers of its own module and of the modules its row's "may use" cell
    names, nothing else of galley's. base is not implied: each row names it.
  - The relation is NOT transitive: engine may use clients and clients may use net, yet
    engine may not include net/ (it sees the clients through their interfaces). CMake's
    PUBLIC links would let it; the table does not.
  - In "may use", words that are not a module of the table (std, POSIX, OpenSSL, yaml-cpp,
    nlohmann-json, SQLite, Boost.Beast) are third-party and ignored, as are notes in
    parentheses: "clients (interfaces)" allows clients/. "everything" is every module of
    the table; "everything except `a`, `b`" leaves those out.
  - An include is galley's when its first path component is a module of the table, or when
    it climbs out of its folder ("../engine/plan.h"), resolved against the including file.
  - Every folder under reconciler/ must have a row: a new module is placed in the layering
    before it builds.
  - tests/ may include anything and are not scanned.

Usage: check_layering.py [ROOT]   (ROOT holds ARCHITECTURE.md and reconciler/; default:
this checkout). Exit 0 when every include is allowed; 1 with one line per violation,
"reconciler/base/x.cc:12: base includes "engine/plan.h" but ARCHITECTURE.md allows only
base"; 2 when the table cannot be read or a folder has no row. Python 3 stdlib only.
"""

import os
import re
import sys

SOURCE_SUFFIXES = (".h", ".hh", ".hpp", ".inc", ".cc", ".cpp", ".cxx")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
HEADER_RE = re.compile(r"^\|\s*module\s*\|\s*job\s*\|\s*may use\s*\|\s*$", re.IGNORECASE)


class TableError(Exception):
    """ARCHITECTURE.md has no usable module table, or the tree does not match it."""


def _cells(line):
    # "| a | b | c |" -> ["a", "b", "c"]. Cells never hold a literal '|' in this table.
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _module_name(cell):
    name = cell.strip().strip("`").strip()
    return name[:-1] if name.endswith("/") else name


def _words(text):
    # "model, render, clients (interfaces)" -> ["model", "render", "clients"]
    text = re.sub(r"\([^)]*\)", "", text)
    return [_module_name(w) for w in text.split(",") if w.strip()]


def parse_table(markdown):
    """Returns {module: set of modules it may use (itself included)}, in table order."""
    lines = markdown.splitlines()
    start = next((i for i, l in enumerate(lines) if HEADER_RE.match(l)), None)
    if start is None:
        raise TableError("ARCHITECTURE.md has no '| module | job | may use |' table")
    rows = []
    for line in lines[start + 2:]:  # past the header and its |---| separator
        if not line.strip().startswith("|"):
            break
        cells = _cells(line)
        if len(cells) != 3:
            raise TableError(f"ARCHITECTURE.md: a module table row without 3 cells: {line.strip()}")
        rows.append((_module_name(cells[0]), cells[2]))
    if not rows:
        raise TableError("ARCHITECTURE.md: the module table has no rows")
    modules = [m for m, _ in rows]
    allowed = {}
    for module, may_use in rows:
        everything = re.match(r"^\s*everything\b(?:\s+(?:except|but)\s+(.*))?$", may_use.strip(), re.IGNORECASE)
        if everything:
            excluded = set(_words(everything.group(1) or ""))
            unknown = excluded - set(modules)
            if unknown:
                raise TableError(f"ARCHITECTURE.md: {module}'s 'everything except' names no module: "
                                 + ", ".join(sorted(unknown)))
            uses = {m for m in modules if m not in excluded}
        else:
            uses = {w for w in _words(may_use) if w in modules}
        allowed[module] = uses | {module}
    return allowed


def _module_of_include(path, including_file, reconciler, modules):
    """The galley module an include names, or None for third-party and same-folder headers."""
    first = path.split("/", 1)[0]
    if first in modules and "/" in path:
        return first
    if ".." in path.split("/"):
        resolved = os.path.normpath(os.path.join(os.path.dirname(including_file), path))
        rel = os.path.relpath(resolved, reconciler)
        if not rel.startswith(".."):
            return rel.split(os.sep, 1)[0]
    return None


def check(root):
    """Returns (violations, files, includes): violation lines, and what was scanned."""
    with open(os.path.join(root, "ARCHITECTURE.md"), encoding="utf-8") as f:
        allowed = parse_table(f.read())
    order = list(allowed)
    reconciler = os.path.join(root, "reconciler")
    folders = sorted(d for d in os.listdir(reconciler) if os.path.isdir(os.path.join(reconciler, d)))
    missing = [d for d in folders if d not in allowed]
    if missing:
        raise TableError("ARCHITECTURE.md's module table has no row for "
                         + ", ".join(f"reconciler/{d}/" for d in missing))
    violations, files, includes = [], 0, 0
    for module in folders:
        ok = allowed[module]
        for dirpath, dirnames, filenames in os.walk(os.path.join(reconciler, module)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                shown = os.path.relpath(full, root)
                files += 1
                with open(full, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE_RE.match(line)
                        if not m:
                            continue
                        used = _module_of_include(m.group(2), full, reconciler, allowed)
                        if used is None:
                            continue
                        includes += 1
                        if used not in ok:
                            allows = ", ".join(m2 for m2 in order if m2 in ok)
                            violations.append(f'{shown}:{number}: {module} includes "{m.group(2)}" '
                                              f"but ARCHITECTURE.md allows only {allows}")
    return violations, files, includes


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print("usage: check_layering.py [ROOT]", file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        violations, files, includes = check(root)
    except (TableError, OSError) as e:
        print(f"check_layering: {e}", file=sys.stderr)
        return 2
    for v in violations:
        print(v)
    if violations:
        print(f"check_layering: {len(violations)} include(s) against the layering in ARCHITECTURE.md "
              "(fix the include, or the table if the code is right)", file=sys.stderr)
        return 1
    print(f"check_layering: {includes} galley includes in {files} files, all allowed by ARCHITECTURE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
