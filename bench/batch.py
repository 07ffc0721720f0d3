#!/usr/bin/env python3
"""$batch against separate requests: N GETs of a run by id sent as one `POST /beta/$batch` versus
the same N GETs sent one after another, both over ONE keep-alive connection (wrk -t1 -c1).

    python3 bench/batch.py                     # 5 rounds x 5 s per mode, N = 20
    python3 bench/batch.py --rounds 3 --duration 3 --n 20

It builds the release binary, installs wrk if missing, starts `runhub serve` on a fresh SQLite data
directory, creates one flow with --runs runs through the API, checks that a sample batch answers
200 for every item, then alternates the two modes (single GETs, batches) for --rounds rounds and
reports medians: the time of N single GETs (N / their req/s), the time of one batch (1 / its req/s),
and their ratio. A ratio below 1 means the batch is faster than the same requests one by one.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, Server, ensure_wrk, sh, wrk, write_ids  # noqa: E402


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read().decode() or "null")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="GETs per batch (1-20)")
    ap.add_argument("--runs", type=int, default=1000, help="runs to create (the GETs pick among them)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5, help="seconds per mode per round")
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    opts = ap.parse_args()

    ensure_wrk()
    if not opts.no_build:
        sh(["cargo", "build", "--release", "--bin", "runhub"], cwd=ROOT)
    data = tempfile.mkdtemp(prefix="runhub-bench-batch-")
    server = Server(data, "full")
    try:
        flow = call(server.base, "POST", "/beta/industryData/incomingFlows", {"displayName": "bench", "readinessStatus": "ready"})["id"]
        ids = []
        for i in range(opts.runs):
            run = call(server.base, "POST", f"/beta/industryData/incomingFlows/{flow}/runs", {"displayName": f"run {i}", "statistics": {"people": i}})
            ids.append(run["id"])
        ids_file = os.path.join(data, "ids.txt")
        write_ids(ids_file, ids)
        sample = {"requests": [{"id": str(i), "method": "GET", "url": f"industryData/runs/{ids[i]}"} for i in range(opts.n)]}
        statuses = [r["status"] for r in call(server.base, "POST", "/beta/$batch", sample)["responses"]]
        assert statuses == [200] * opts.n, statuses

        single, batch = [], []
        for r in range(opts.rounds):
            s = wrk(server.base, "batch.lua", [ids_file, "single", str(opts.n)], opts.duration, threads=1, connections=1)
            b = wrk(server.base, "batch.lua", [ids_file, "batch", str(opts.n)], opts.duration, threads=1, connections=1)
            assert s["errors"] == 0 and b["errors"] == 0, (s, b)
            single.append(s)
            batch.append(b)
            print(f"round {r + 1}: single {s['rps']:.0f} GET/s (p50 {s['p50']:.3f} ms), "
                  f"batch {b['rps']:.0f} batches/s (p50 {b['p50']:.3f} ms)", file=sys.stderr)
        n_singles_ms = statistics.median(opts.n * 1000 / s["rps"] for s in single)
        batch_ms = statistics.median(1000 / b["rps"] for b in batch)
        print(f"\n| mode | median req/s | p50 ms | time for {opts.n} GETs, ms |")
        print("|---|---:|---:|---:|")
        print(f"| {opts.n} single GETs, one after another | {statistics.median(s['rps'] for s in single):.0f} | "
              f"{statistics.median(s['p50'] for s in single):.3f} | {n_singles_ms:.2f} |")
        print(f"| one $batch of {opts.n} GETs | {statistics.median(b['rps'] for b in batch):.0f} | "
              f"{statistics.median(b['p50'] for b in batch):.3f} | {batch_ms:.2f} |")
        print(f"\nbatch / singles = {batch_ms / n_singles_ms:.2f} (medians of {opts.rounds} rounds x {opts.duration} s, one connection)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
