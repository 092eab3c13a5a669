#!/usr/bin/env python3
"""The egress proxy's cost: added latency per connection and throughput through it, against the
same client code run bare (no jail, no proxy) on the same interpreter, in one run, interleaved.

    PYTHONPATH=<dir with the stockade package> python3 bench/egress.py [--rounds 8] [--requests 200]

Per round, in a shuffled order: a jailed run (network.mode = "proxy", allow = the origin) and a
bare run of the same code, each timing inside the code itself (so the jail's start-up is not
counted): `--requests` sequential GETs of a small body, each on a new connection, as absolute-URI
requests through the proxy (urllib) and as CONNECT tunnels (http.client), then one download of
`--megabytes` through a tunnel; bare, the same requests go straight to the origin. The origin is
a threaded HTTP server in this process on 127.0.0.1. Prints medians and spread over rounds.
"""
import argparse
import http.server
import json
import os
import random
import statistics
import subprocess
import sys
import threading

import stockade

PY = "/usr/bin/python3.11"

CLIENT = r"""
import http.client, json, time, urllib.request
PORT, N, MB, VIA = {port}, {n}, {mb}, {via}
def absolute():
    t = time.perf_counter()
    if VIA:
        urllib.request.urlopen("http://127.0.0.1:%d/small" % PORT).read()
    else:
        c = http.client.HTTPConnection("127.0.0.1", PORT); c.request("GET", "/small"); c.getresponse().read(); c.close()
    return time.perf_counter() - t
def tunnel():
    t = time.perf_counter()
    if VIA:
        c = http.client.HTTPConnection("127.0.0.1", 3128); c.set_tunnel("127.0.0.1", PORT)
    else:
        c = http.client.HTTPConnection("127.0.0.1", PORT)
    c.request("GET", "/small"); c.getresponse().read(); c.close()
    return time.perf_counter() - t
def download():
    if VIA:
        c = http.client.HTTPConnection("127.0.0.1", 3128); c.set_tunnel("127.0.0.1", PORT)
    else:
        c = http.client.HTTPConnection("127.0.0.1", PORT)
    t = time.perf_counter()
    c.request("GET", "/big"); r = c.getresponse()
    got = 0
    while True:
        b = r.read(1 << 20)
        if not b: break
        got += len(b)
    dt = time.perf_counter() - t
    assert got == MB << 20, got
    return got / dt / 1e6
for _ in range(5): absolute(); tunnel()
a = sorted(absolute() for _ in range(N))
t = sorted(tunnel() for _ in range(N))
print(json.dumps({{"absolute_ms": a[len(a)//2]*1e3, "tunnel_ms": t[len(t)//2]*1e3, "mb_s": download()}}))
"""


def origin(megabytes):
    big = b"x" * (megabytes << 20)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = big if self.path == "/big" else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    class S(http.server.ThreadingHTTPServer):
        daemon_threads = True

    s = S(("127.0.0.1", 0), H)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--megabytes", type=int, default=64)
    ap.add_argument("--json", help="write every sample here")
    args = ap.parse_args()
    srv = origin(args.megabytes)
    port = srv.server_address[1]
    policy = (f'version = 1\n[python]\ninterpreter = "{PY}"\n[limits]\nwall-time = "120s"\ncpu-time = "120s"\n'
              f'[network]\nallow = ["127.0.0.1:{port}"]\nmax-connections = 10000\nmax-bytes = "1T"\n')
    print(f"stockade from {os.path.dirname(stockade.__file__)}; origin 127.0.0.1:{port}; "
          f"{args.rounds} rounds x {args.requests} requests, {args.megabytes} MiB download", file=sys.stderr)
    samples = {"proxy": [], "direct": []}
    for rnd in range(args.rounds):
        order = ["proxy", "direct"]
        random.shuffle(order)
        for variant in order:
            code = CLIENT.format(port=port, n=args.requests, mb=args.megabytes, via=variant == "proxy")
            if variant == "proxy":
                r = stockade.run(code, policy=policy)
                if not r.ok:
                    sys.exit(f"jailed run failed: {r.status} {r.stderr[-2000:]}")
                out = r.stdout
            else:
                out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
            samples[variant].append(json.loads(out))
        print(f"round {rnd + 1}: " + ", ".join(f"{v} {samples[v][-1]}" for v in samples), file=sys.stderr)

    def stat(variant, key):
        vals = [s[key] for s in samples[variant]]
        return statistics.median(vals), min(vals), max(vals)

    print(f"\n{'metric':<34}{'direct':>30}{'through the proxy':>30}{'added / ratio':>14}")
    for key, label, unit in [("absolute_ms", "GET, absolute URI", "ms"), ("tunnel_ms", "GET through CONNECT", "ms"),
                             ("mb_s", "download through CONNECT", "MB/s")]:
        d, p = stat("direct", key), stat("proxy", key)
        cell = lambda m: f"{m[0]:.3f} ({m[1]:.3f}-{m[2]:.3f})"
        extra = f"{p[0] - d[0]:+.3f} ms" if unit == "ms" else f"{p[0] / d[0] * 100:.0f} %"
        print(f"{label + ' (' + unit + ')':<34}{cell(d):>30}{cell(p):>30}{extra:>14}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
