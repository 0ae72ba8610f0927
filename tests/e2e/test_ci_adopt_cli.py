#!/usr/bin/env python3
"""Issue #15 end to end, with the built binaries against real galley-sandbox processes on
loopback: set-tag/promote on a Git repository (--commit), the image preflight (plan and apply
refuse a missing image, a registry that is down, --skip-image-check), a third-party registry
client (skopeo inspect, skipped when absent) against the registry emulator in its three auth
modes, galley adopt of a seed-style deploy (no galley labels) followed by an empty plan and no
app version changed, and every CI pipeline in examples/ci run step by step (its galley and
docker push lines, in file order) so the files cannot rot. Every process is stopped at the end
and every subprocess is bounded in time.

Usage: test_ci_adopt_cli.py GALLEY GALLEY_SANDBOX SOURCE_ROOT
Environment: GALLEY_E2E_ONLY=test_adopt,test_pipelines runs only those groups (an error under
CI=true); GALLEY_E2E_KEEP=1 keeps the temp directory."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

import yaml

GALLEY, SANDBOX, ROOT = (os.path.abspath(a) for a in sys.argv[1:4])
REFERENCE = os.path.join(ROOT, "examples", "reference")
SAMPLES = os.path.join(ROOT, "tests", "testdata", "registry-api")
SECRET = "postgres://e2e-ci-secret"
results = []
procs = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {str(detail)[:3000]}"), flush=True)
    return bool(cond)


def http(method, url, body=None, timeout=10, headers=None):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Sandbox:
    def __init__(self, work, name, *extra):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        ready = os.path.join(self.dir, "ready.json")
        self.log = open(os.path.join(self.dir, "sandbox.log"), "wb")
        self.proc = subprocess.Popen([SANDBOX, "--marathon-port", "0", "--consul-port", "0", "--ready-file", ready,
                                      "--health-delay", "100", *extra], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(self.proc)
        end = time.monotonic() + 20
        while time.monotonic() < end and not (os.path.exists(ready) and os.path.getsize(ready) > 0):
            if self.proc.poll() is not None:
                raise RuntimeError("galley-sandbox exited: " + open(os.path.join(self.dir, "sandbox.log")).read())
            time.sleep(0.05)
        r = json.load(open(ready))
        self.marathon = f"http://127.0.0.1:{r['marathon_port']}"
        self.consul = f"http://127.0.0.1:{r['consul_port']}"
        self.registry = f"http://127.0.0.1:{r['registry_port']}" if "registry_port" in r else None
        self.state = os.path.join(self.dir, "state.db")

    def env(self, **more):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("GALLEY_") or k.startswith("CONSUL_"):
                del e[k]
        e.update({"GALLEY_MARATHON_URL": self.marathon, "GALLEY_CONSUL_URL": self.consul,
                  "XDG_STATE_HOME": os.path.join(self.dir, "xdg"), "PROD_DATABASE_URL": SECRET,
                  "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example", "GIT_COMMITTER_NAME": "ci",
                  "GIT_COMMITTER_EMAIL": "ci@example"})
        if self.registry:
            e["GALLEY_REGISTRY_URL"] = self.registry
        e.update(more)
        return e

    def push(self, image):
        """`docker push` of registry.local/<name>:<tag>: the emulator is told of the image."""
        ref = image.split("/", 1)[1] if "." in image.split("/", 1)[0] or ":" in image.split("/", 1)[0] else image
        status, text = http("PUT", f"{self.registry}/_sandbox/images/{ref}", "")
        if status != 200:
            raise RuntimeError(f"push {image}: {status} {text}")

    def versions(self):
        _, text = http("GET", f"{self.marathon}/v2/apps")
        return {a["id"]: a["version"] for a in json.loads(text)["apps"]}

    def app(self, app_id):
        status, text = http("GET", f"{self.marathon}/v2/apps{app_id}")
        return json.loads(text)["app"] if status == 200 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def run(args, env=None, cwd=None, timeout=120):
    p = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def galley(*args, env=None, cwd=None, timeout=120):
    return run([GALLEY, *args], env=env, cwd=cwd, timeout=timeout)


def git_repo(path, src=REFERENCE):
    shutil.copytree(src, path)
    e = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
         "GIT_COMMITTER_EMAIL": "t@x"}
    for a in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", "-C", path, *a], check=True, env=e, timeout=30, capture_output=True)


def example_images(work):
    out = os.path.join(work, "rendered")
    rc, _, err = galley("render", REFERENCE, "--out", out)
    assert rc == 0, err
    images = set()
    for root, _, files in os.walk(os.path.join(out, "marathon")):
        for f in files:
            images.add(json.load(open(os.path.join(root, f)))["container"]["docker"]["image"])
    return out, sorted(images)


def registry_flags(images):
    flags = []
    for i in images:
        flags += ["--registry-image", i.split("/", 1)[1]]
    return flags


# --- set-tag / promote ----------------------------------------------------------------------

def test_set_tag(work):
    repo = os.path.join(work, "settag")
    git_repo(repo)
    path = os.path.join(repo, "services", "test-server.yaml")
    before = open(path).read()
    rc, out, err = galley("set-tag", "test-server", "master-abc123-99", repo, "--env", "staging", "--commit",
                          env={**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "c@x",
                               "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "c@x"})
    check("set-tag --commit exits 0", rc == 0, out + err)
    after = open(path).read()
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    check("set-tag changes one line", len(diff) == 1 and "master-abc123-99" in diff[0][1]
          and len(before.splitlines()) == len(after.splitlines()), diff)
    _, log, _ = run(["git", "-C", repo, "log", "-1", "--format=%s"])
    check("set-tag commits with a conventional message",
          log.strip() == "deploy(test-server): set tag master-abc123-99 in staging", log)
    _, status, _ = run(["git", "-C", repo, "status", "--porcelain"])
    check("set-tag leaves a clean work tree", status.strip() == "", status)
    rc, out, _ = galley("validate", repo)
    check("the result validates", rc == 0, out)
    rc, out, err = galley("promote", "test-server", "--from", "staging", "--to", "production", repo)
    check("promote exits 0 and names the line", rc == 0 and "production tag:" in out, out + err)
    check("promote copied the tag", "production: {tag: master-abc123-99" in open(path).read() or
          "master-abc123-99" in [l for l in open(path).read().splitlines() if "production" in l or "tag" in l][0]
          or open(path).read().count("master-abc123-99") == 2, open(path).read())
    snapshot = open(path).read()
    for args, want in [(["latest"], "moves"), (["master"], "moves"), (["v1", "--env", "qa"], "no environment qa"),
                       (["../x"], "not a valid image tag")]:
        rc, out, err = galley("set-tag", "test-server", *args[:1], repo, *args[1:])
        check(f"set-tag {args} refused: {want}", rc == 1 and want in err and open(path).read() == snapshot,
              (rc, err))
    rc, _, err = galley("set-tag", "nosuch", "v1", repo)
    check("set-tag of an unknown service is refused", rc == 1 and "no service nosuch" in err, err)
    # A tag behind an anchor: refused with file:line, nothing written.
    text = snapshot.replace("tag: master-abc123-99", "tag: &t master-abc123-99", 1)
    open(path, "w").write(text)
    rc, _, err = galley("set-tag", "test-server", "v9", repo, "--env", "production")
    check("a tag behind an anchor is refused with file:line",
          rc == 1 and re.search(r"test-server\.yaml:\d+: environments\.\w+\.tag: its value carries an anchor", err)
          and open(path).read() == text, err)


# --- image preflight --------------------------------------------------------------------------

def test_preflight(work):
    _, images = example_images(work)
    present = [i for i in images if "report-worker" not in i]  # report-worker's images never pushed
    sb = Sandbox(work, "preflight", "--registry-port", "0", *registry_flags(present))
    try:
        repo = os.path.join(work, "preflight-repo")
        shutil.copytree(REFERENCE, repo)
        env = sb.env()
        rc, out, err = galley("plan", repo, "--env", "staging", env=env)
        check("plan refuses a missing image (exit 1)", rc == 1 and "image registry.local/platform/report-worker:"
              in err and "is not in registry" in err and "push it first" in err, (rc, out, err))
        rc, out, err = galley("apply", repo, "--env", "staging", "--auto-approve", env=env)
        check("apply refuses a missing image before touching anything",
              rc == 1 and "is not in registry" in err and sb.versions() == {}, (rc, err, sb.versions()))
        rc, out, err = galley("plan", repo, "--env", "staging", "--skip-image-check", "--detailed-exitcode", env=env)
        check("--skip-image-check plans without the check", rc == 2, (rc, err))
        for i in images:
            sb.push(i)
        rc, out, err = galley("plan", repo, "--env", "staging", "--detailed-exitcode", env=env)
        check("once pushed, plan passes the preflight", rc == 2, (rc, err))
        rc, out, err = galley("apply", repo, "--env", "staging", "--auto-approve", env=env, timeout=180)
        check("apply deploys once the images exist", rc == 0 and len(sb.versions()) == 4, (rc, out, err))
        down = sb.env(GALLEY_REGISTRY_URL="http://127.0.0.1:1")
        rc, out, err = galley("plan", repo, "--env", "staging", "--detailed-exitcode", env=down)
        check("no change to deploy: the registry is not asked", rc == 0, (rc, err))
        rc, _, _ = galley("set-tag", "api-gateway", "v3-b1", repo, "--env", "staging")
        rc, out, err = galley("plan", repo, "--env", "staging", env=down)
        check("registry down is a clear error", rc == 1 and "is unreachable" in err and "--skip-image-check" in err,
              (rc, err))
        http("PUT", f"{sb.registry}/_sandbox/images/platform/api-gateway:v3-b1", "")
        rc, out, err = galley("plan", repo, "--env", "staging", "--detailed-exitcode", env=env)
        check("only the changed image is checked, and it exists", rc == 2 and "v3-b1" in out, (rc, err))
    finally:
        sb.stop()


# --- a third-party client against the registry emulator --------------------------------------

def test_skopeo(work):
    if not shutil.which("skopeo"):
        print("SKIP skopeo is not installed (ci/install-deps.sh installs it)")
        return
    digests = json.load(open(os.path.join(SAMPLES, "digests.json")))
    want = digests["files"]["manifest-list.json"]["digest"]
    for mode, creds in [("none", None), ("bearer", "ci:s3cret"), ("basic", "ci:s3cret")]:
        extra = ["--registry-auth", mode] + (["--registry-credentials", creds] if creds else [])
        sb = Sandbox(work, f"skopeo-{mode}", "--registry-port", "0", "--registry-samples", SAMPLES,
                     "--registry-image", "platform/api-gateway:v1", *extra)
        try:
            host = sb.registry.replace("http://", "")
            base = ["skopeo", "inspect", "--tls-verify=false"] + (["--creds", creds] if creds else [])
            rc, out, err = run([*base, f"docker://{host}/team/web:1.4.2"], timeout=60)
            ok = rc == 0 and json.loads(out)["Digest"] == want and "1.4.2-oci" in json.loads(out)["RepoTags"]
            check(f"skopeo inspect ({mode}) reads the sample list by its digest", ok, (rc, out[:500], err))
            rc, out, err = run([*base, f"docker://{host}/platform/api-gateway:v1"], timeout=60)
            check(f"skopeo inspect ({mode}) reads an added image", rc == 0 and json.loads(out)["Architecture"] == "amd64",
                  (rc, err))
            rc, out, err = run([*base, f"docker://{host}/team/web:9.9.9"], timeout=60)
            check(f"skopeo inspect ({mode}) of a missing tag: manifest unknown", rc != 0 and "manifest unknown" in err,
                  (rc, err))
            if creds:
                rc, out, err = run(["skopeo", "inspect", "--tls-verify=false", "--creds", "ci:wrong",
                                    f"docker://{host}/team/web:1.4.2"], timeout=60)
                check(f"skopeo inspect ({mode}) with wrong credentials fails", rc != 0, (rc, err))
        finally:
            sb.stop()


# --- adopt -------------------------------------------------------------------------------------

def seed_deploy(defs, sb, extra_label=None):
    """What the seed's marathon-deploy.sh did: KV with PUT /v1/kv, then PUT /v2/apps/<id> per app:
    the service definition as the seed wrote it (rendered like DESIGN §2's), without galley labels."""
    for root, _, files in os.walk(os.path.join(defs, "kv")):
        for f in sorted(files):
            for k, v in json.load(open(os.path.join(root, f))).items():
                if v.startswith("(sensitive: from $"):
                    v = SECRET
                assert http("PUT", f"{sb.consul}/v1/kv/{k}", v)[0] == 200
    for env in sorted(os.listdir(os.path.join(defs, "marathon"))):
        for f in sorted(os.listdir(os.path.join(defs, "marathon", env))):
            app = json.load(open(os.path.join(defs, "marathon", env, f)))
            for label in ("galley.platform", "galley.config-digest"):
                app.get("labels", {}).pop(label, None)
            if extra_label and app["id"] == extra_label[0]:
                app["labels"]["team"] = "edge"
                app["env"]["SEED_ONLY"] = "1"
            status, text = http("PUT", f"{sb.marathon}/v2/apps{app['id']}", json.dumps(app),
                                headers={"Content-Type": "application/json"})
            assert status in (200, 201), (status, text)


def wait_stable(sb, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _, text = http("GET", f"{sb.marathon}/v2/deployments")
        if json.loads(text) == []:
            return
        time.sleep(0.1)
    raise TimeoutError("deployments did not finish")


def test_adopt(work):
    defs, images = example_images(work)
    sb = Sandbox(work, "adopt", "--registry-port", "0", *registry_flags(images))
    try:
        seed_deploy(defs, sb, extra_label=("/app/staging/api-gateway",))
        wait_stable(sb)
        env = sb.env()
        before = sb.versions()
        check("the seed deploy runs 8 apps", len(before) == 8, before)
        rc, out, err = galley("plan", REFERENCE, env=env)
        check("a declared service whose live app is unmanaged is a plan error",
              rc == 1 and "adopt it first (galley adopt DIR --env" in err, (rc, err))
        repo = os.path.join(work, "adopted")
        os.makedirs(repo)
        shutil.copy(os.path.join(REFERENCE, "galley.yaml"), repo)
        rc, out, err = galley("adopt", repo, "--dry-run", env=env)
        check("adopt --dry-run writes nothing", rc == 0 and "would write" in out
              and not os.path.exists(os.path.join(repo, "services")), (rc, out, err))
        rc, out, err = galley("adopt", repo, env=env)
        check("adopt exits 0 and writes 4 service files", rc == 0 and len(os.listdir(os.path.join(repo, "services"))) == 4,
              (rc, out, err))
        check("what the schema cannot express is listed, not dropped",
              "kept as it runs: /labels/team" in out and "/env/SEED_ONLY" in out, out)
        gw = yaml.safe_load(open(os.path.join(repo, "services", "api-gateway.yaml")))
        check("one file groups the service's environments",
              sorted(gw["environments"]) == ["production", "staging"] and gw["environments"]["production"]["tag"]
              == "v2.14.0-b812" and "/labels/team" in gw["ignore"], gw)
        rc, out, err = galley("validate", repo)
        check("the adopted repository validates", rc == 0, out + err)
        rc, out, err = galley("plan", repo, "--detailed-exitcode", env=env)
        check("the first plan after adopt has no changes", rc == 0 and "No changes" in out, (rc, out, err))
        rc, out, err = galley("apply", repo, "--auto-approve", env=env, timeout=180)
        check("apply after adopt has nothing to do", rc == 0, (rc, out, err))
        check("no app restarted or changed (versions equal)", sb.versions() == before, (before, sb.versions()))
        rc, out, err = galley("drift", repo, "--detailed-exitcode", env=env)
        check("no drift after adopt", rc == 0, (rc, out, err))
        rc, out, err = galley("adopt", repo, env=env)
        check("adopting again finds nothing", rc == 0 and "nothing to adopt" in out, (rc, out, err))
        # The next real change goes through galley and adds its labels.
        rc, _, err = galley("set-tag", "report-worker", "v1.5.1-b81", repo, "--env", "staging")
        sb.push("registry.local/platform/report-worker:v1.5.1-b81")
        rc, out, err = galley("apply", repo, "--env", "staging", "--auto-approve", env=env, timeout=180)
        app = sb.app("/app/staging/report-worker")
        check("the next real change deploys and labels the app",
              rc == 0 and app["labels"].get("galley.platform") == "reference"
              and app["container"]["docker"]["image"].endswith(":v1.5.1-b81"), (rc, out, err, app and app["labels"]))
        after = sb.versions()
        check("only that app changed", [k for k in after if after[k] != before[k]] == ["/app/staging/report-worker"],
              after)
    finally:
        sb.stop()


# --- CI pipelines -------------------------------------------------------------------------------

CI_VARS = {"DRONE_COMMIT_SHA": "0123abc", "DRONE_BUILD_NUMBER": "58", "GITHUB_SHA": "0123abc",
           "GITHUB_RUN_NUMBER": "58", "CI_COMMIT_SHA": "0123abc", "CI_PIPELINE_IID": "58"}
STOP = re.compile(r"\s*(?:\|\||&&|;|\||>|\)|$)")


def script_lines(node):
    """Every shell line of a CI file, in document order."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("commands", "script", "run") and isinstance(v, (list, str)):
                for item in (v if isinstance(v, list) else [v]):
                    if isinstance(item, str):
                        yield from item.splitlines()
            else:
                yield from script_lines(v)
    elif isinstance(node, list):
        for v in node:
            yield from script_lines(v)


def commands_of(path):
    """The galley and docker push command lines (up to the first shell operator)."""
    out = []
    for line in script_lines(yaml.safe_load(open(path))):
        m = re.search(r"(?:^|[\s;&|(])((?:galley|docker push)\s[^|;&>)]*)", line)
        if not m:
            continue
        cmd = m.group(1).strip()
        for k, v in CI_VARS.items():
            cmd = cmd.replace("${" + k + "}", v).replace("$" + k, v)
        out.append(shlex.split(cmd))
    return out


def test_pipelines(work):
    _, images = example_images(work)
    for name in ("drone.yml", "github-actions.yml", "gitlab-ci.yml"):
        path = os.path.join(ROOT, "examples", "ci", name)
        cmds = commands_of(path)
        kinds = [c[1] if c[0] == "galley" else "push" for c in cmds]
        check(f"{name}: push, set-tag, plan, apply in order",
              kinds[:1] == ["push"] and "set-tag" in kinds and kinds.index("set-tag") < kinds.index("plan")
              < kinds.index("apply"), kinds)
        sb = Sandbox(work, "ci-" + name, "--registry-port", "0", *registry_flags(images))
        try:
            ci = os.path.join(work, "ci-" + name + "-checkout")
            os.makedirs(ci)
            git_repo(os.path.join(ci, "deploy"))
            env = sb.env()
            ok = True
            for c in cmds:
                if c[0] == "docker":
                    sb.push(c[2])
                    continue
                rc, out, err = galley(*c[1:], env=env, cwd=ci, timeout=180)
                allowed = (0, 2) if c[1] == "plan" else (0,)
                ok = check(f"{name}: {' '.join(c)} exits {allowed}", rc in allowed, (rc, out, err)) and ok
                if c[1] == "plan" and "--markdown" in c:
                    check(f"{name}: the Markdown plan names the new tag", "master-0123abc-58" in out, out[:1500])
            app = sb.app("/app/staging/test-server")
            check(f"{name}: staging runs the built image",
                  app is not None and app["container"]["docker"]["image"] ==
                  "registry.local/test-server:master-0123abc-58", app and app["container"])
            rc, out, err = galley("plan", "deploy", "--env", "staging", "--detailed-exitcode", env=env, cwd=ci)
            check(f"{name}: converged afterwards", rc == 0, (rc, out, err))
            _, log, _ = run(["git", "-C", os.path.join(ci, "deploy"), "log", "-1", "--format=%s"])
            check(f"{name}: set-tag committed", "set tag master-0123abc-58 in staging" in log, log)
        finally:
            sb.stop()


def main():
    work = tempfile.mkdtemp(prefix="galley-ci-adopt-")
    try:
        only = os.environ.get("GALLEY_E2E_ONLY", "")
        if only and os.environ.get("CI") == "true":
            check("GALLEY_E2E_ONLY is not set under CI=true (it skips tests)", False, only)
        for t in (test_set_tag, test_preflight, test_skopeo, test_adopt, test_pipelines):
            if only and t.__name__ not in only.split(","):
                continue
            try:
                t(work)
            except Exception:
                check(t.__name__ + " raised", False, traceback.format_exc())
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if os.environ.get("GALLEY_E2E_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)
    passed = sum(results)
    print(f"{passed}/{len(results)} checks passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
