#!/usr/bin/env python3
"""runhub throughput benchmark: one command, figures as fractions of this machine's HTTP ceiling.

    python3 bench/run.py                  # full run: 1,000,000 runs, 3 rounds x 10 s per scenario
    python3 bench/run.py --runs 100000 --rounds 1 --duration 3   # a quick look
    python3 bench/run.py --database-url postgres://postgres@127.0.0.1/runhub_bench   # on PostgreSQL

It builds the release binary, installs wrk if missing, fills a fresh data directory with the store's
bulk path (crates/store/examples/bulk_load.rs), starts `runhub serve` on it and runs each scenario at
16 connections. Every scenario run is paired with a run of the same load generator against `/livez`
(the same binary's do-nothing route) right before it, so each figure is also a fraction of what the
HTTP stack could do at that moment; rounds alternate and the medians are reported.
Each pair is preceded by the same load against a **bare** server (bench/bare: axum, one handler, no
layers) started beside runhub: every figure is reported as a fraction of that bare ceiling, and
`/livez` as a fraction of it shows what runhub's request stack (layers, log line) costs by itself. Write scenarios are
measured under both `--durability full` (default: fsync before the 2xx) and `relaxed`.
Before the first round it waits for the server's one-time start-up work on the fresh data (folding
the bulk load's count deltas, indexing run names) to finish; it reads the server's peak RSS after
every scenario and reports which scenario reached the final peak.
With --database-url the store is PostgreSQL (the database is emptied first; durability is the
server's own `synchronous_commit`, so there is one pass, reported as "postgres").

    python3 bench/run.py --tls --runs 100000 --rounds 3 --duration 5   # HTTPS against plain HTTP

With --tls it measures only keep-alive GETs (a run by id, and /livez) over plain HTTP and over HTTPS
(`--tls-cert/--tls-key`, a throwaway self-signed ECDSA certificate made with openssl), the same
binary on the same data, alternating servers round by round, and reports HTTPS as a fraction of HTTP.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "lua")
CONNECTIONS = 16
THREADS = 2


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def status_mb(pid, field):
    """A memory figure of a process from /proc/PID/status (VmRSS, VmHWM, …), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk():
    if shutil.which("wrk"):
        return
    sh(["apt-get", "install", "-y", "wrk"])


TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


class Bare:
    """The bare ceiling (bench/bare): answers every request with 200, nothing else."""

    def __init__(self):
        port = free_port()
        self.proc = subprocess.Popen([os.path.join(TARGET, "release", "runhub-bench-bare"), f"127.0.0.1:{port}"],
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()  # "bare server listening on …"
        self.base = f"http://127.0.0.1:{port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Server:
    """`runhub serve` on a free loopback port: by default the release binary of this tree; `binary`
    starts another build (bench/changes.py compares builds), `args` adds flags."""

    def __init__(self, data_dir, durability, database_url=None, tls=None, binary=None, args=()):
        self.port = free_port()
        self.log = open(os.path.join(data_dir, f"server-{durability}.log"), "w")
        store = ["--database-url", database_url] if database_url else ["--data-dir", data_dir, "--durability", durability]
        tls_args = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
        self.proc = subprocess.Popen(
            [binary or os.path.join(TARGET, "release", "runhub"), "serve", "--listen", f"127.0.0.1:{self.port}", *store, *tls_args,
             *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.proc.stdout.readline()  # "runhub listening on …"
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def rss_peak_mb(self):
        return status_mb(self.proc.pid, "VmHWM")

    def cpu_seconds(self):
        """User + system CPU time the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, limit=300):
        """Waits until the server's start-up work is done (under 5 % of a core over 2 s), up to `limit`
        seconds. A freshly bulk-loaded database is indexed at first start (count deltas folded, run names
        indexed); that is a one-time cost, not the steady state the scenarios measure. Returns the wait."""
        t0 = time.time()
        while time.time() - t0 < limit:
            before = self.cpu_seconds()
            time.sleep(2)
            if self.cpu_seconds() - before < 0.1:
                break
        return time.time() - t0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text, pct):
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def wrk(base, script, args, duration, threads=THREADS, connections=CONNECTIONS):
    cmd = ["/usr/bin/time", "-f", "CPU %U %S %e", "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
           "--latency", "-s", os.path.join(LUA, script), base, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BENCH_LUA": LUA})
    text = out.stdout + out.stderr
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    cpu = re.search(r"CPU ([\d.]+) ([\d.]+) ([\d.]+)", text)
    loadgen_cores = (float(cpu.group(1)) + float(cpu.group(2))) / float(cpu.group(3)) if cpu else float("nan")
    return {"rps": rps, "p50": parse_latency(text, 50), "p99": parse_latency(text, 99),
            "errors": int(non2xx.group(1)) if non2xx else 0, "loadgen_cores": loadgen_cores,
            "exhausted": "ran out of running runs" in text}


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    """The p-th percentile of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_ids(path, ids):
    with open(path, "w") as f:
        f.write("\n".join(ids) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per scenario run")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--database-url", help="benchmark the PostgreSQL store on this (emptied) database")
    ap.add_argument("--tls", action="store_true", help="only keep-alive GETs, over HTTPS against plain HTTP")
    opts = ap.parse_args()

    ensure_wrk()
    sh(["cargo", "build", "--release", "-p", "runhub-store", "--example", "bulk_load"], cwd=ROOT)
    sh(["cargo", "build", "--release", "-p", "runhub", "-p", "runhub-bench-bare", "--bins"], cwd=ROOT)
    data = tempfile.mkdtemp(prefix="runhub-bench-")
    t0 = time.time()
    if opts.database_url:
        # A fresh dataset each time: everything in the (benchmark-only) database's public schema is
        # dropped, whatever migrations made; the next start migrates anew.
        sh(["psql", "-q", opts.database_url, "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public"])
    env = {**os.environ, "RUNHUB_DATABASE_URL": opts.database_url or ""}
    # Every finish request needs a running run of its own: enough for the fastest rate seen (finishes
    # ran at about 6,000/s; twice that) over each finish run, on top of the dataset's own running runs.
    finish_runs = opts.rounds * (1 if opts.database_url else 2)
    extra_running = finish_runs * opts.duration * 12_000
    sh([os.path.join(TARGET, "release", "examples", "bulk_load"), data, str(opts.runs), str(opts.flows), str(extra_running)], env=env)
    print(f"loaded {opts.runs} runs in {time.time() - t0:.1f} s", file=sys.stderr)
    dataset = json.load(open(os.path.join(data, "dataset.json")))
    ids_dir = os.path.join(data, "ids")
    os.makedirs(ids_dir)
    write_ids(os.path.join(ids_dir, "get"), dataset["runs"])
    running = dataset["running"]
    # Disjoint slices of running runs: one for progress patches, one per finish run (never reused).
    split = min(20_000, len(running) // 2)
    patch_ids, finish_pool = running[:split], running[split:]
    write_ids(os.path.join(ids_dir, "patch"), patch_ids)
    flow = dataset["flows"][0]
    if opts.tls:
        return tls_comparison(opts, data, os.path.join(ids_dir, "get"))

    per_finish = len(finish_pool) // max(finish_runs, 1)
    finish_files = []
    for i in range(finish_runs):
        p = os.path.join(ids_dir, f"finish{i}")
        write_ids(p, finish_pool[i * per_finish:(i + 1) * per_finish])
        finish_files.append(p)

    scenarios = [
        ("get", "get.lua", lambda r: [os.path.join(ids_dir, "get")], False),
        ("create", "create.lua", lambda r: [flow], True),
        ("patch statistics", "patch.lua", lambda r: [os.path.join(ids_dir, "patch")], True),
        ("finish", "finish.lua", None, True),
        ("list 100 of status eq failed", "list.lua", lambda r: [], False),
        ("mix 80/20", "mix.lua", lambda r: [os.path.join(ids_dir, "get"), os.path.join(ids_dir, "patch")], True),
    ]
    results = {}  # (durability, scenario) -> list of (result, livez, bare)
    finish_used = 0
    peak = {}
    bare = Bare()
    for durability in (("postgres",) if opts.database_url else ("full", "relaxed")):
        server = Server(data, durability, opts.database_url)
        try:
            waited = server.settle()
            print(f"[{durability}] start-up work done after {waited:.0f} s; peak RSS so far {server.rss_peak_mb():.0f} MB",
                  file=sys.stderr)
            peak_by = None
            for r in range(opts.rounds):
                for name, script, args, writes in scenarios:
                    if durability == "relaxed" and not writes:
                        continue
                    if args is None:
                        a = [finish_files[finish_used], str(THREADS)]
                        finish_used += 1
                    else:
                        a = args(r)
                    bare_run = wrk(bare.base, "ceiling.lua", [], opts.duration)
                    ceiling = wrk(server.base, "ceiling.lua", [], opts.duration)
                    if ceiling["errors"] or bare_run["errors"]:
                        sys.exit("a ceiling answered non-2xx replies: the figures would be wrong")
                    res = wrk(server.base, script, a, opts.duration)
                    if res["exhausted"]:
                        print(f"WARNING: {name} ran out of running runs before {opts.duration} s; its figure covers less time",
                              file=sys.stderr)
                    results.setdefault((durability, name), []).append((res, ceiling, bare_run))
                    hwm = server.rss_peak_mb()
                    if peak_by is None or hwm > peak_by[0]:
                        peak_by = (hwm, f"{name}, round {r + 1}")
                    print(f"[{durability} r{r}] {name}: {res['rps']:.0f} req/s (bare {bare_run['rps']:.0f}, /livez {ceiling['rps']:.0f}), "
                          f"p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, non-2xx {res['errors']}, peak RSS {hwm:.0f} MB",
                          file=sys.stderr)
            peak[durability] = (server.rss_peak_mb(), peak_by[1] if peak_by else "start-up")
        finally:
            server.stop()
    bare.stop()

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"\n{time.strftime('%Y-%m-%d')}, commit {rev}, {os.cpu_count()} cores, {mem:.0f} GiB, "
          f"{opts.runs} runs in {opts.flows} flows, {CONNECTIONS} connections, wrk -t{THREADS}, "
          f"{opts.rounds} rounds x {opts.duration} s, medians\n")
    print("| durability | scenario | req/s | bare req/s | fraction of bare | /livez req/s | fraction of /livez | p50 ms | p99 ms "
          "| non-2xx | wrk cores |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    livez = [(c, b) for runs in results.values() for (_, c, b) in runs]
    print(f"| all | /livez (the request stack) | {statistics.median(c['rps'] for c, _ in livez):.0f} | "
          f"{statistics.median(b['rps'] for _, b in livez):.0f} | {statistics.median(c['rps'] / b['rps'] for c, b in livez):.1%} | "
          f"| | {statistics.median(c['p50'] for c, _ in livez):.2f} | {statistics.median(c['p99'] for c, _ in livez):.2f} | "
          f"{sum(c['errors'] for c, _ in livez)} | {statistics.median(c['loadgen_cores'] for c, _ in livez):.2f} |")
    for (durability, name), runs in results.items():
        med = lambda key: statistics.median(x[0][key] for x in runs)
        bare_rps = statistics.median(x[2]["rps"] for x in runs)
        of_bare = statistics.median(x[0]["rps"] / x[2]["rps"] for x in runs)
        ceil = statistics.median(x[1]["rps"] for x in runs)
        frac = statistics.median(x[0]["rps"] / x[1]["rps"] for x in runs)
        print(f"| {durability} | {name} | {med('rps'):.0f} | {bare_rps:.0f} | {of_bare:.1%} | {ceil:.0f} | {frac:.1%} | "
              f"{med('p50'):.2f} | {med('p99'):.2f} | {sum(x[0]['errors'] for x in runs)} | {med('loadgen_cores'):.2f} |")
    rss = ", ".join(f"{mb:.0f} MB ({d}; reached during {by})" for d, (mb, by) in peak.items())
    print(f"\nPeak RSS of runhub: {rss}, with {opts.runs} runs stored.")
    if not opts.keep:
        shutil.rmtree(data, ignore_errors=True)
    else:
        print(f"data kept in {data}", file=sys.stderr)


def tls_comparison(opts, data, get_ids):
    """Keep-alive GETs over HTTPS as a fraction of the same over plain HTTP, servers alternating."""
    cert, key = os.path.join(data, "bench.crt"), os.path.join(data, "bench.key")
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scenarios = [("get", "get.lua", [get_ids]), ("livez", "ceiling.lua", [])]
    results = {}  # (scheme, scenario) -> list of results
    for r in range(opts.rounds):
        for scheme, tls in (("http", None), ("https", (cert, key))):
            server = Server(data, "full", opts.database_url, tls)
            try:
                for name, script, args in scenarios:
                    res = wrk(server.base, script, args, opts.duration)
                    if res["errors"]:
                        sys.exit(f"{scheme} {name} answered {res['errors']} non-2xx replies: the figures would be wrong")
                    results.setdefault((scheme, name), []).append(res)
                    print(f"[r{r}] {scheme} {name}: {res['rps']:.0f} req/s, p50 {res['p50']:.2f} ms, "
                          f"p99 {res['p99']:.2f} ms", file=sys.stderr)
            finally:
                server.stop()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"\n{time.strftime('%Y-%m-%d')}, commit {rev}, {os.cpu_count()} cores, {opts.runs} runs, "
          f"{CONNECTIONS} keep-alive connections, wrk -t{THREADS}, {opts.rounds} rounds x {opts.duration} s, medians\n")
    print("| scenario | HTTP req/s | HTTPS req/s | HTTPS / HTTP | HTTP p50 / p99 ms | HTTPS p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, _ in scenarios:
        med = lambda scheme, key: statistics.median(x[key] for x in results[(scheme, name)])
        ratio = statistics.median(s["rps"] / h["rps"] for h, s in zip(results[("http", name)], results[("https", name)]))
        print(f"| {name} | {med('http', 'rps'):.0f} | {med('https', 'rps'):.0f} | {ratio:.2f} | "
              f"{med('http', 'p50'):.2f} / {med('http', 'p99'):.2f} | {med('https', 'p50'):.2f} / {med('https', 'p99'):.2f} |")
    if not opts.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
