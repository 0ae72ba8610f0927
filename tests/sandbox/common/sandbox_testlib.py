"""What the galley-sandbox process tests share: PASS/FAIL lines collected in `results`, and
one JSON-over-HTTP call (the status and body, HTTP errors included; a connection failure
raises OSError)."""
import json
import urllib.error
import urllib.request

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)


def http(method, url, body=None, timeout=10, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
