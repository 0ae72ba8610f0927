#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Loads benchmark keys into a Consul (emulator) over one keep-alive connection.

Usage: load_keys.py PORT N   -> writes bench/keys/k0000..k{N-1} (64-byte values) and
                                 bench/prefix/p00..p29 (the 30-key recurse prefix).
Exits non-zero when a write is refused.
"""
import http.client
import sys


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    keys = ["bench/keys/k%04d" % i for i in range(n)] + ["bench/prefix/p%02d" % i for i in range(30)]
    for key in keys:
        conn.request("PUT", "/v1/kv/" + key, body=(key + ":").ljust(64, "x"))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or body != b"true":
            print("PUT %s: %d %r" % (key, resp.status, body), file=sys.stderr)
            return 1
    print("loaded %d keys" % len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
