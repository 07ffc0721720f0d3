#!/usr/bin/env python3
"""Latency of counts over a large dataset: `/runs/$count` and `$count=true` with `status eq 'failed'`.

    bench/counts.py                          # 1,000,000 runs in 1,000 flows, 300 requests each
    RUNS=100000 REQUESTS=100 bench/counts.py # a quick look
    BIN=/path/to/runhub BULK_LOAD=/path/to/bulk_load DATA=/tmp/other bench/counts.py   # another build

Builds the release binaries (unless BIN and BULK_LOAD name them), fills $DATA (default
/tmp/runhub-bench-counts, reused when it holds the dataset) through the store's bulk path
(crates/store/examples/bulk_load.rs), starts `runhub serve` on it and sends each request REQUESTS
times, one at a time (latency, not throughput), after a warm-up. Prints p50/p99 per request as a
Markdown table; bench/README.md has the figures.
"""

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("RUNS", "1000000"))
FLOWS = int(os.environ.get("FLOWS", "1000"))
REQUESTS = int(os.environ.get("REQUESTS", "300"))
DATA = os.environ.get("DATA", "/tmp/runhub-bench-counts")
PORT = int(os.environ.get("PORT", "18094"))
BIN = os.environ.get("BIN")
BULK_LOAD = os.environ.get("BULK_LOAD")
BASE = f"http://127.0.0.1:{PORT}/beta/industryData"

REQUESTS_MEASURED = [
    ("/runs/$count", "/runs/$count"),
    ("/runs?$count=true&$top=1&$filter=status eq 'failed'", "/runs?$count=true&$top=1&$filter=" + urllib.parse.quote("status eq 'failed'")),
    ("/runs/$count?$filter=status in ('failed','completed')", "/runs/$count?$filter=" + urllib.parse.quote("status in ('failed','completed')")),
    # Not answered by the stored counts: the scan, for comparison.
    ("/runs/$count?$filter=status eq 'failed' and displayName ne 'x' (scan)",
     "/runs/$count?$filter=" + urllib.parse.quote("status eq 'failed' and displayName ne 'x'")),
]


def build():
    global BIN, BULK_LOAD
    if BIN and BULK_LOAD:
        return
    subprocess.run(["cargo", "build", "--release", "--bin", "runhub"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "runhub-store", "--example", "bulk_load"], cwd=ROOT, check=True)
    BIN = os.path.join(ROOT, "target/release/runhub")
    BULK_LOAD = os.path.join(ROOT, "target/release/examples/bulk_load")


def load():
    marker = os.path.join(DATA, ".runs")
    if os.path.exists(os.path.join(DATA, "dataset.json")) and open(marker).read().strip() == f"{RUNS}/{FLOWS}":
        return
    subprocess.run(["rm", "-rf", DATA], check=True)
    subprocess.run([BULK_LOAD, DATA, str(RUNS), str(FLOWS)], check=True)
    with open(marker, "w") as f:
        f.write(f"{RUNS}/{FLOWS}\n")


def get(path):
    with urllib.request.urlopen(BASE + path, timeout=60) as r:
        r.read()


def main():
    build()
    load()
    server = subprocess.Popen([BIN, "serve", "--data-dir", DATA, "--listen", f"127.0.0.1:{PORT}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                get("/runs/$count")
                break
            except OSError:
                time.sleep(0.1)
        print(f"{RUNS} runs in {FLOWS} flows, {REQUESTS} sequential requests each\n")
        print("| request | p50 ms | p99 ms |")
        print("| --- | ---: | ---: |")
        for name, path in REQUESTS_MEASURED:
            for _ in range(min(20, REQUESTS)):
                get(path)
            took = []
            for _ in range(REQUESTS):
                t = time.perf_counter()
                get(path)
                took.append((time.perf_counter() - t) * 1000)
            took.sort()
            p50 = took[len(took) // 2]
            p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
            print(f"| `{name}` | {p50:.2f} | {p99:.2f} |")
            sys.stdout.flush()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
