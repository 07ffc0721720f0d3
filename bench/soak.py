#!/usr/bin/env python3
"""runhub memory soak: does the server's RSS stay flat under a long mixed load?

    python3 bench/soak.py                               # 1,000,000 runs, 10 minutes of mix 80/20
    python3 bench/soak.py --runs 100000 --minutes 2     # a quick look

It builds the release binaries, fills a fresh data directory through the store's bulk path (as
bench/run.py does), starts `runhub serve --durability full` on it and drives the mixed scenario of
bench/run.py (80 % gets of a run by id, 20 % statistics PATCHes of running runs, 16 connections)
for the whole time, in slices of --interval seconds, and reads the server's RSS (VmRSS) after each
slice, after waiting out the server's one-time start-up work on the fresh data (as bench/run.py
does); the change log grows and is pruned by the service as in production. It prints one line per slice and a Markdown summary: RSS at the start (after the first slice), at the
end and at its peak, and the requests per second of the first and last slices.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, TARGET, Server, ensure_wrk, sh, status_mb, wrk, write_ids  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=1_000)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=int, default=30, help="seconds per slice (one RSS sample each)")
    opts = ap.parse_args()

    ensure_wrk()
    sh(["cargo", "build", "--release", "-p", "runhub-store", "--example", "bulk_load"], cwd=ROOT)
    sh(["cargo", "build", "--release", "-p", "runhub", "--bins"], cwd=ROOT)
    data = tempfile.mkdtemp(prefix="runhub-soak-")
    try:
        sh([os.path.join(TARGET, "release", "examples", "bulk_load"), data, str(opts.runs), str(opts.flows), "20000"])
        dataset = json.load(open(os.path.join(data, "dataset.json")))
        gets, patches = os.path.join(data, "get-ids"), os.path.join(data, "patch-ids")
        write_ids(gets, dataset["runs"])
        write_ids(patches, dataset["running"][:20_000])
        server = Server(data, "full")
        waited = server.settle()
        print(f"start-up work done after {waited:.0f} s; RSS {status_mb(server.proc.pid, 'VmRSS'):.1f} MB", file=sys.stderr)
        samples = []  # (elapsed s, RSS MB, req/s, p99 ms, non-2xx)
        started = time.time()
        try:
            slices = max(1, int(opts.minutes * 60 / opts.interval))
            for _ in range(slices):
                res = wrk(server.base, "mix.lua", [gets, patches], opts.interval)
                sample = (time.time() - started, status_mb(server.proc.pid, "VmRSS"), res["rps"], res["p99"], res["errors"])
                samples.append(sample)
                print(f"{sample[0]:6.0f} s  RSS {sample[1]:6.1f} MB  {sample[2]:8.0f} req/s  p99 {sample[3]:6.2f} ms  non-2xx {sample[4]}",
                      file=sys.stderr)
            peak = server.rss_peak_mb()
        finally:
            server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)

    rev = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
    first, last = samples[0], samples[-1]
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {rev}, {os.cpu_count()} cores, "
          f"{opts.runs} runs in {opts.flows} flows, mix 80/20 at 16 connections for {last[0] / 60:.1f} min, "
          f"{len(samples)} slices of {opts.interval} s\n")
    print("| RSS after the first slice | RSS at the end | peak RSS (VmHWM) | req/s first slice | req/s last slice | "
          "median req/s | non-2xx |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {first[1]:.0f} MB | {last[1]:.0f} MB | {peak:.0f} MB | {first[2]:.0f} | {last[2]:.0f} | "
          f"{statistics.median(s[2] for s in samples):.0f} | {sum(s[4] for s in samples)} |")


if __name__ == "__main__":
    main()
