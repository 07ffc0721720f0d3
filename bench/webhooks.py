#!/usr/bin/env python3
"""What change notifications cost, on the release binary and the embedded SQLite store.

1. Write throughput with 10 subscriptions on a healthy receiver vs none: two servers (one with 10
   subscriptions to a local receiver, one without), each create-run load (wrk, 16 connections)
   paired with a wrk run against /livez of the same server right before it (the ceiling), rounds
   alternating; medians of the fractions of ceiling, and their ratio.
2. Commit-to-arrival latency: runs created one at a time at a modest rate on the server with 10
   subscriptions; for each notification, the time from the POST's 201 (the commit was acknowledged)
   to its arrival at the receiver; p50 / p99 over all notifications.

The receiver is a separate process (asyncio, HTTP/1.1 keep-alive) that answers the validation
handshake and 202 to everything else, and logs each notification's arrival.

    python3 bench/webhooks.py                  # 5 rounds x 10 s, 20 s of latency samples
    python3 bench/webhooks.py --rounds 1 --duration 3 --no-build
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, Server, cpu_seconds, ensure_wrk, free_port, percentile, sh, wrk  # noqa: E402

SUBSCRIPTIONS = 10


# ---- the receiver (its own process) ------------------------------------------------------------

async def serve_receiver(port, log_path):
    log = open(log_path, "a", buffering=1)
    # Parsing and logging every notification is only needed while latencies are measured; during
    # the throughput rounds the receiver just takes the POSTs (its CPU is the server's CPU here).
    logging = {"on": False}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                if target.startswith("/mode"):
                    logging["on"] = query.get("log") == ["1"]
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                elif "validationToken" in query:
                    token = query["validationToken"][0].encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (len(token), token))
                else:
                    now = time.time()
                    if logging["on"]:
                        for n in json.loads(body)["value"]:
                            log.write(f"{n['resourceData']['id']} {now:.6f}\n")
                    writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# ---- the benchmark -----------------------------------------------------------------------------

def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


def subscribe(base, url):
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600 * 24))
    for _ in range(SUBSCRIPTIONS):
        call(base, "POST", "/beta/subscriptions",
             {"changeType": "created,updated,deleted", "notificationUrl": url, "resource": "industryData/runs", "expirationDateTime": expires})


def flow(base):
    return call(base, "POST", "/beta/industryData/incomingFlows", {"displayName": "bench", "readinessStatus": "ready"})["id"]


def arrivals(log_path):
    seen = {}
    with open(log_path) as f:
        for line in f:
            run, at = line.split()
            seen.setdefault(run, []).append(float(at))
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--latency-seconds", type=int, default=20)
    ap.add_argument("--rate", type=float, default=50, help="creates per second in the latency phase")
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    ap.add_argument("--receiver", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.receiver:
        asyncio.run(serve_receiver(int(opts.receiver[0]), opts.receiver[1]))
        return

    ensure_wrk()
    if not opts.no_build:
        sh(["cargo", "build", "--release", "--bin", "runhub"], cwd=ROOT)
    work = tempfile.mkdtemp(prefix="runhub-bench-webhooks-")
    port, log_path = free_port(), os.path.join(work, "arrivals.log")
    receiver = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--receiver", str(port), log_path])
    time.sleep(0.5)
    dirs = [os.path.join(work, name) for name in ("plain", "subscribed")]
    for d in dirs:
        os.makedirs(d)
    os.environ["RUNHUB_WEBHOOK_ALLOW_HTTP"] = "true"
    os.environ["RUNHUB_WEBHOOK_ALLOW_PRIVATE"] = "true"
    os.environ["RUNHUB_SCHEDULE_INTERVAL"] = "0"
    plain, subscribed = Server(dirs[0], "full"), Server(dirs[1], "full")
    try:
        subscribe(subscribed.base, f"http://127.0.0.1:{port}/hook")
        flows = {s.base: flow(s.base) for s in (plain, subscribed)}
        fractions = {"plain": [], "subscribed": []}
        rps = {"plain": [], "subscribed": []}
        receiver_cores, server_cpu_per_create = [], {"plain": [], "subscribed": []}
        for r in range(opts.rounds):
            order = [("plain", plain), ("subscribed", subscribed)]
            if r % 2:
                order.reverse()
            for name, server in order:
                ceiling = wrk(server.base, "ceiling.lua", [], opts.duration)
                before = (cpu_seconds(receiver.pid), cpu_seconds(server.proc.pid), time.time())
                load = wrk(server.base, "create.lua", [flows[server.base]], opts.duration)
                spent = (cpu_seconds(receiver.pid) - before[0], cpu_seconds(server.proc.pid) - before[1], time.time() - before[2])
                if name == "subscribed":
                    receiver_cores.append(spent[0] / spent[2])
                server_cpu_per_create[name].append(spent[1] / (load["rps"] * opts.duration) * 1e6)
                assert load["errors"] == 0, load
                fractions[name].append(load["rps"] / ceiling["rps"])
                rps[name].append(load["rps"])
                print(f"round {r + 1} {name}: {load['rps']:.0f} creates/s, ceiling {ceiling['rps']:.0f}, "
                      f"p99 {load['p99']:.2f} ms", file=sys.stderr)
        # Let the deliveries of the load drain before timing single notifications.
        deadline = time.time() + 120
        while time.time() < deadline:
            pending = sum(s.get("pendingNotifications", 0) for s in
                          (call(subscribed.base, "GET", f"/beta/subscriptions/{x['id']}") for x in
                           call(subscribed.base, "GET", "/beta/subscriptions")["value"]))
            if pending == 0:
                break
            time.sleep(1)
        call(f"http://127.0.0.1:{port}", "POST", "/mode?log=1", {})
        committed = {}
        gap = 1 / opts.rate
        end = time.time() + opts.latency_seconds
        target = flows[subscribed.base]
        while time.time() < end:
            run = call(subscribed.base, "POST", f"/beta/industryData/incomingFlows/{target}/runs", {"displayName": "latency"})
            committed[run["id"]] = time.time()
            time.sleep(gap)
        time.sleep(3)
        seen = arrivals(log_path)
        latencies = [(at - committed[run]) * 1000 for run in committed for at in seen.get(run, [])]
        missing = sum(1 for run in committed if len(seen.get(run, [])) < SUBSCRIPTIONS)

        med = {k: statistics.median(v) for k, v in fractions.items()}
        print("\n| server | median creates/s | median fraction of ceiling |")
        print("|---|---:|---:|")
        for name in ("plain", "subscribed"):
            label = "no subscriptions" if name == "plain" else f"{SUBSCRIPTIONS} subscriptions, healthy receiver"
            print(f"| {label} | {statistics.median(rps[name]):.0f} | {med[name] * 100:.1f}% |")
        print(f"\nwrite throughput with {SUBSCRIPTIONS} subscriptions: {med['subscribed'] / med['plain'] * 100:.1f}% of without "
              f"(medians of {opts.rounds} rounds x {opts.duration} s, 16 connections)")
        print(f"CPU per create on the server: {statistics.median(server_cpu_per_create['plain']):.0f} µs without, "
              f"{statistics.median(server_cpu_per_create['subscribed']):.0f} µs with {SUBSCRIPTIONS} subscriptions; "
              f"the receiver used {statistics.median(receiver_cores):.2f} cores of the 2 during the subscribed rounds")
        print(f"commit → arrival over {len(latencies)} notifications ({len(committed)} runs x {SUBSCRIPTIONS}; "
              f"{missing} runs short): p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
              f"max {max(latencies):.1f} ms")
    finally:
        plain.stop()
        subscribed.stop()
        receiver.terminate()


if __name__ == "__main__":
    main()
