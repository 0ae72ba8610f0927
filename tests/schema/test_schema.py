#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Agreement test between galley's parser and the JSON Schemas in schema/v1/.

  /usr/bin/python3 tests/schema/test_schema.py --galley build/bin/galley [--root REPO]

Checks that
  - schema/v1/{platform,service}.schema.json are valid draft-07 schemas, with $id, title and
    a description on every property;
  - every galley.yaml and services/**/*.y(a)ml under examples/ matches its schema, and
    `galley validate` accepts every example directory;
  - for each case under tests/schema/cases/ (written by make_cases.py), galley and the
    schemas agree: a valid case is accepted by both; an invalid case makes `galley validate`
    exit 1 with a `<file>:<line>:<col>: error:` diagnostic naming the offending file, and
    the schema rejects that file and accepts every other file of the case.

Each check prints one PASS/FAIL line; the last line is "N passed, M failed". Exits 1 when
anything failed. Needs only Debian's python3-yaml and python3-jsonschema.
"""
import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import time

import yaml
from jsonschema import Draft7Validator

DRAFT7 = "http://json-schema.org/draft-07/schema#"
MIN_INVALID = 25
MIN_VALID = 5


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, problems):
        """Records one check; `problems` is a list of strings, empty when it passed."""
        if problems:
            self.failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            self.passed += 1
            print(f"PASS {name}")
        sys.stdout.flush()


def to_json_value(x):
    """What a YAML 1.2 editor would hand the schema: string keys, dates as their text."""
    if isinstance(x, dict):
        return {str(k): to_json_value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [to_json_value(v) for v in x]
    if isinstance(x, (datetime.date, datetime.datetime)):
        return x.isoformat()
    return x


def schema_errors(validator, path):
    """Messages of the schema's objections to the YAML file at path; [] when it matches."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        return [f"cannot load: {e}".replace("\n", " ")]
    errors = sorted(validator.iter_errors(to_json_value(doc)), key=lambda e: list(e.absolute_path))
    out = []
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(f"{where}: {e.message}")
    return out


_unrunnable = set()


def run_galley(galley, directory):
    """Runs `galley validate directory`; retries for up to 20s while a rebuild replaces the
    binary, once. Returns the CompletedProcess, or a string saying why galley did not run."""
    attempts = 1 if galley in _unrunnable else 20
    for attempt in range(attempts):
        try:
            return subprocess.run([galley, "validate", directory], capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return f"galley validate {directory} took more than 30s"
        except OSError as e:  # ENOENT or ETXTBSY while the binary is being relinked
            if attempt == attempts - 1:
                _unrunnable.add(galley)
                return f"cannot run {galley}: {e.strerror}"
            time.sleep(1)
    return "unreachable"


def short(text, limit=300):
    text = " | ".join(line for line in text.splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def property_schemas(schema, where):
    """Yields (location, subschema) for every declared property and map value in a schema."""
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            yield f"{where}/properties/{key}", sub
        for key, sub in schema.get("patternProperties", {}).items():
            yield f"{where}/patternProperties/{key}", sub
        if isinstance(schema.get("additionalProperties"), dict):
            yield f"{where}/additionalProperties", schema["additionalProperties"]
        for key, sub in schema.items():
            if key in ("enum", "const", "default", "examples", "if", "then", "else", "not"):
                continue  # values, or conditions that restate properties declared elsewhere
            yield from property_schemas(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from property_schemas(sub, f"{where}/{i}")


def check_schema_file(checks, path):
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        checks.report(f"schema-valid {name}", [str(e)])
        return None
    problems = []
    try:
        Draft7Validator.check_schema(schema)
    except Exception as e:  # jsonschema.SchemaError, or a bad regex
        problems.append(f"not a valid draft-07 schema: {str(e).splitlines()[0]}")
    if schema.get("$schema") != DRAFT7:
        problems.append(f"$schema is {schema.get('$schema')!r}, expected {DRAFT7!r}")
    for key in ("$id", "title", "description"):
        if not schema.get(key):
            problems.append(f"no top-level {key}")
    checks.report(f"schema-valid {name}", problems)

    missing = [loc for loc, sub in property_schemas(schema, "#")
               if isinstance(sub, dict) and not sub.get("description")]
    checks.report(f"schema-descriptions {name}", [f"no description at {m}" for m in missing[:10]])
    return Draft7Validator(schema) if not problems else None


def repo_files(directory):
    """(relative path, kind) of the platform file and the service files of a repository."""
    out = [("galley.yaml", "platform")]
    services = []
    for ext in ("yaml", "yml"):
        services += glob.glob(os.path.join(directory, "services", "**", f"*.{ext}"), recursive=True)
    for path in sorted(services):
        rel = os.path.relpath(path, directory)
        if not any(part.startswith(".") for part in rel.split(os.sep)):
            out.append((rel, "service"))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galley", help="the galley binary (default: ROOT/build/bin/galley)")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(here)),
                        help="the repository root (default: two levels above this script)")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    galley = os.path.abspath(args.galley or os.path.join(root, "build", "bin", "galley"))
    started = time.monotonic()
    checks = Checks()

    # a. The schemas themselves.
    validators = {
        "platform": check_schema_file(checks, os.path.join(root, "schema", "v1", "platform.schema.json")),
        "service": check_schema_file(checks, os.path.join(root, "schema", "v1", "service.schema.json")),
    }
    if None in validators.values():
        print("cannot go on without both schemas")
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1

    # b. The examples: every file matches its schema, galley accepts every directory.
    example_dirs = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(root, "examples", "*", "galley.yaml")))
    checks.report("examples-found", [] if example_dirs else ["no examples/*/galley.yaml"])
    for d in example_dirs:
        shown = os.path.relpath(d, root)
        for rel, kind in repo_files(d):
            checks.report(f"example-schema {shown}/{rel}",
                          schema_errors(validators[kind], os.path.join(d, rel))[:3])
        r = run_galley(galley, d)
        if isinstance(r, str):
            checks.report(f"example-galley {shown}", [r])
            continue
        checks.report(f"example-galley {shown}",
                      [] if r.returncode == 0 else [f"galley validate exited {r.returncode}: {short(r.stderr)}"])

    # c. The agreement corpus.
    cases_dir = os.path.join(root, "tests", "schema", "cases")
    cases = sorted(d for d in glob.glob(os.path.join(cases_dir, "*")) if os.path.isdir(d))
    counts = {"valid": 0, "invalid": 0}
    for d in cases:
        name = os.path.basename(d)
        problems = []
        try:
            with open(os.path.join(d, "case.json"), encoding="utf-8") as f:
                meta = json.load(f)
            expect = meta["expect"]
            if expect not in counts:
                raise ValueError(f"expect is {expect!r}")
            offending = meta.get("file") if expect == "invalid" else None
            files = repo_files(d)
            if expect == "invalid" and offending not in [rel for rel, _ in files]:
                raise ValueError(f"file {offending!r} is not a galley.yaml or service file of the case")
        except (OSError, ValueError, KeyError) as e:
            checks.report(f"case {name}", [f"bad case.json: {e}"])
            continue
        counts[expect] += 1

        for rel, kind in files:
            errors = schema_errors(validators[kind], os.path.join(d, rel))
            if rel == offending and not errors:
                problems.append(f"schema accepts {rel}")
            elif rel != offending and errors:
                problems.append(f"schema rejects {rel}: {errors[0]}")

        r = run_galley(galley, d)
        if isinstance(r, str):
            problems.append(r)
        elif expect == "valid":
            if r.returncode != 0:
                problems.append(f"galley exited {r.returncode}: {short(r.stderr)}")
        else:
            if r.returncode != 1:
                problems.append(f"galley exited {r.returncode}, expected 1: {short(r.stdout + r.stderr)}")
            shown = os.path.normpath(os.path.join(d, offending))
            if not re.search(re.escape(shown) + r":\d+:\d+: error: ", r.stderr):
                problems.append(f"galley's stderr has no '{shown}:LINE:COL: error:': {short(r.stderr)}")
        checks.report(f"case {name}", problems)

    size = []
    if counts["invalid"] < MIN_INVALID:
        size.append(f"{counts['invalid']} invalid cases, want at least {MIN_INVALID}")
    if counts["valid"] < MIN_VALID:
        size.append(f"{counts['valid']} valid cases, want at least {MIN_VALID}")
    checks.report(f"corpus-size ({counts['invalid']} invalid, {counts['valid']} valid)", size)

    elapsed = time.monotonic() - started
    print(f"# {elapsed:.1f}s")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
