#!/usr/bin/env python3
"""Change tracking benchmarks (docs/change-tracking.md): what the change log costs writes, how fast a
delta round of 1,000 changes answers, and how soon 100 open live streams see a change.

    python3 bench/changes.py                      # all three, defaults below (~30 min, three release builds)
    python3 bench/changes.py write-cost --rounds 10 --duration 4
    python3 bench/changes.py delta --changes 1000 --repeat 300
    python3 bench/changes.py stream --streams 100 --rate 20 --seconds 10 --stream-rounds 3
    python3 bench/changes.py delta stream --no-build   # use target/release/runhub as it is

Every server is the release binary on a fresh SQLite data directory, `--auth none`, default flags
otherwise (`--durability full`: fsync before the 2xx).

write-cost: there is no switch that turns the change log off, so it compares builds. "log" is this
tree; "no-log" is this commit with the one function that appends to the log
(crates/store/src/changes.rs `record`) returning at once — the same binary otherwise (table,
commit signal, routes), so the difference is exactly the log's rows; "pre-log"
is the commit before crates/store/src/changes.rs was added (everything else that changed since is
in that difference too). Each build is started on its own data directory with one flow and 2,000
running runs made through the API, and for --rounds rounds, in an order that rotates every round,
each build gets the run.py pair (wrk -t2 -c16 on /livez, the ceiling, then the scenario) for
**create** (POST a run) and **patch statistics** (PATCH a running run's progress). Figures are
fractions of each build's own ceiling, taken per pair; medians over the rounds. The cost of the log
is 1 - (log fraction / no-log fraction), the median of the per-round ratios. Beside it, the server's
CPU time per request (utime + stime from /proc over the scenario run, divided by its requests): on a
machine shared with other work, throughput swings with their load, CPU per request much less.

delta: takes a deltaLink (`$deltatoken=latest`) after --fill-seconds of creates (wrk), makes
--changes run creates, checks that the round holds exactly those runs, then times --repeat
rounds (every GET of the same deltaLink answers the same round while nothing else is written):
GET the deltaLink and follow nextLinks to the next deltaLink, one keep-alive connection
(http.client), with `Prefer: odata.maxpagesize=999` (the largest page the service allows: 1,000
changes are 2 pages) and with the default page of 100 (10 pages), alternating. Time = request
sent to last byte of the last page read; the client only looks for the link at the end of a page,
it does not parse the 1,000 items while timing.

stream: opens --streams live streams (`GET /beta/industryData/runs/delta`, `Accept:
text/event-stream`, raw sockets read by one selector loop in this process), waits until each one
is open, then a separate process creates runs at --rate per second for --seconds (one keep-alive
connection). For every (stream, event) pair: arrival time minus the time the POST's 201 was read
(a lower bound of the delay after commit: the commit happened before the 201 was sent) and minus
the time the POST was sent (an upper bound: the commit happened after). Each stream must see every
created run exactly once. --rounds rounds on the same server, fresh streams each round; medians of
the rounds' p50/p99.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import re
import selectors
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, TARGET, Server, cpu_seconds, ensure_wrk, percentile, sh, wrk, write_ids  # noqa: E402

BINS = os.path.join(TARGET, "bench-bins")
AUTH = ["--auth", "none"]
RUNS_PATH = "/beta/industryData/runs"
DELTA_PATH = "/beta/industryData/runs/delta"
# The one function every change-log append goes through; "no-log" returns from it at once.
RECORD_FN = "async fn record<T: Tx>(tx: &mut T, tenant: &TenantId, entry: Logged) -> StoreResult<()> {"


def git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- builds


def build_head():
    """This tree's release binary (also copied to target/bench-bins/runhub-log)."""
    sh(["nice", "-n", "5", "cargo", "build", "--release", "--bin", "runhub"], cwd=ROOT)
    os.makedirs(BINS, exist_ok=True)
    dst = os.path.join(BINS, "runhub-log")
    shutil.copy2(os.path.join(TARGET, "release", "runhub"), dst)
    return dst


def build_rev(label, rev, no_log=False):
    """The release binary of commit `rev` (with the change log's `record` stubbed out if `no_log`),
    built in a throwaway git worktree with a target directory of its own, which is deleted after;
    the binary is kept as target/bench-bins/runhub-LABEL-SHA (and reused by later runs). Not this
    tree's target directory: cargo names a workspace's own crates by their path inside the
    workspace, so another checkout's build there would overwrite this tree's artifacts, and a
    later build of this tree could take them for fresh."""
    sha = git("rev-parse", "--short", rev)
    dst = os.path.join(BINS, f"runhub-{label}-{sha}")
    if os.path.exists(dst):
        return dst, sha
    src = tempfile.mkdtemp(prefix=f"runhub-bench-{label}-")
    sh(["git", "worktree", "add", "--detach", src, sha], cwd=ROOT)
    try:
        if no_log:
            path = os.path.join(src, "crates", "store", "src", "changes.rs")
            text = open(path).read()
            if RECORD_FN not in text:
                sys.exit(f"cannot make the no-log build: {path} no longer has `{RECORD_FN}`; update RECORD_FN")
            open(path, "w").write(text.replace(RECORD_FN, RECORD_FN + "\n    if true {\n        return Ok(());\n    }", 1))
        target = os.path.join(TARGET, f"bench-build-{label}")
        sh(["nice", "-n", "5", "cargo", "build", "--release", "--bin", "runhub"], cwd=src, env={**os.environ, "CARGO_TARGET_DIR": target})
        os.makedirs(BINS, exist_ok=True)
        shutil.copy2(os.path.join(target, "release", "runhub"), dst)
    finally:
        sh(["git", "worktree", "remove", "--force", src], cwd=ROOT)
        shutil.rmtree(os.path.join(TARGET, f"bench-build-{label}"), ignore_errors=True)
    return dst, sha


def pre_log_rev():
    """The commit before the one that added crates/store/src/changes.rs."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", "crates/store/src/changes.rs").splitlines()
    if not added:
        sys.exit("crates/store/src/changes.rs was never added in this history; pass --pre-log REV")
    return added[-1] + "~1"


# ---------------------------------------------------------------- a small keep-alive client


class Client:
    def __init__(self, base):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method, path, body=None, headers=None, expect=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status not in expect:
            sys.exit(f"{method} {path} answered {resp.status}: {raw[:500]!r}")
        return raw

    def json(self, method, path, body=None, headers=None):
        return json.loads(self.call(method, path, body, headers) or b"null")


def make_flow(client):
    return client.json("POST", "/beta/industryData/incomingFlows", {"displayName": "bench changes", "readinessStatus": "ready"})["id"]


def create_runs(client, flow, n, label="run"):
    return [
        client.json("POST", f"/beta/industryData/incomingFlows/{flow}/runs", {"displayName": f"{label} {i}", "statistics": {"rows": i}})["id"]
        for i in range(n)
    ]


def path_of(link):
    """A reply's absolute link as a request path."""
    return re.sub(r"^https?://[^/]+", "", link)


def logged_changes(data_dir):
    """Rows in the data directory's change log (None: no such table), read beside the running server."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'runhub.sqlite3')}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM changes").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def header(rev):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {rev}, {os.cpu_count()} cores, {mem:.0f} GiB, load average {load}"


# ---------------------------------------------------------------- 1. what the change log costs writes


def write_cost(opts, head_bin):
    builds = [("log", head_bin, git("rev-parse", "--short", "HEAD"))]
    if not opts.no_build:
        nolog, sha = build_rev("nolog", "HEAD", no_log=True)
        builds.append(("no-log", nolog, sha + " without record()"))
        if opts.pre_log != "none":
            rev = opts.pre_log or pre_log_rev()
            pre, sha = build_rev("prelog", rev)
            builds.append(("pre-log", pre, sha))
    else:
        for label, pattern, note in (("no-log", "runhub-nolog-", " without record()"), ("pre-log", "runhub-prelog-", "")):
            found = sorted(f for f in os.listdir(BINS) if f.startswith(pattern)) if os.path.isdir(BINS) else []
            if found:
                builds.append((label, os.path.join(BINS, found[-1]), found[-1].removeprefix(pattern) + note))
    if len(builds) < 2:
        sys.exit("write-cost needs a baseline build: run without --no-build once")
    print("builds: " + ", ".join(f"{label} = {sha} ({path})" for label, path, sha in builds), file=sys.stderr)

    scenarios = [("create", "create.lua"), ("patch statistics", "patch.lua")]
    results = {}  # (durability, build, scenario) -> [(result, ceiling)]
    for durability in opts.durability.split(","):
        servers, args = {}, {}
        try:
            for label, binary, _ in builds:
                data = tempfile.mkdtemp(prefix=f"runhub-bench-cost-{label}-")
                server = Server(data, durability, binary=binary, args=AUTH)
                servers[label] = (server, data)
                client = Client(server.base)
                flow = make_flow(client)
                ids_file = os.path.join(data, "patch-ids")
                write_ids(ids_file, create_runs(client, flow, opts.patch_runs))
                args[label] = {"create": [flow], "patch statistics": [ids_file]}
                print(f"{label}: change log rows after the set-up: {logged_changes(data)}", file=sys.stderr)
            for r in range(opts.rounds):
                order = builds[r % len(builds):] + builds[:r % len(builds)]
                for name, script in scenarios:
                    for label, _, _ in order:
                        server = servers[label][0]
                        ceiling = wrk(server.base, "ceiling.lua", [], opts.duration)
                        cpu0 = cpu_seconds(server.proc.pid)
                        res = wrk(server.base, script, args[label][name], opts.duration)
                        res["cpu_us"] = (cpu_seconds(server.proc.pid) - cpu0) * 1e6 / max(res["rps"] * opts.duration, 1)
                        if ceiling["errors"] or res["errors"]:
                            sys.exit(f"{label} {name}: non-2xx replies (ceiling {ceiling['errors']}, scenario {res['errors']})")
                        results.setdefault((durability, label, name), []).append((res, ceiling))
                        print(f"[{durability} r{r}] {label} {name}: {res['rps']:.0f} req/s (ceiling {ceiling['rps']:.0f}, "
                              f"{res['rps'] / ceiling['rps']:.1%}), p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, "
                              f"server CPU {res['cpu_us']:.0f} us/request", file=sys.stderr)
        finally:
            for server, data in servers.values():
                server.stop()
                shutil.rmtree(data, ignore_errors=True)

    print(f"\n### write cost: {header(builds[0][2])}")
    print(f"builds: {', '.join(f'{label} = {sha}' for label, _, sha in builds)}; wrk -t2 -c16, "
          f"{opts.rounds} rounds x {opts.duration} s, medians\n")
    print("| durability | scenario | build | req/s | ceiling req/s | fraction of ceiling | p50 ms | p99 ms | server CPU us/request |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for durability in opts.durability.split(","):
        for name, _ in scenarios:
            for label, _, _ in builds:
                runs = results[(durability, label, name)]
                med = lambda key: statistics.median(x[0][key] for x in runs)  # noqa: E731
                print(f"| {durability} | {name} | {label} | {med('rps'):.0f} | {statistics.median(x[1]['rps'] for x in runs):.0f} | "
                      f"{statistics.median(x[0]['rps'] / x[1]['rps'] for x in runs):.1%} | {med('p50'):.2f} | {med('p99'):.2f} | "
                      f"{med('cpu_us'):.0f} |")
    print("\nCost of the change log, per round, medians of the rounds: 1 - (log / baseline) of the fractions of ceiling, "
          "the same of the plain req/s, and (log / baseline) - 1 of the server's CPU time per request\n")
    print("| durability | scenario | baseline | cost (fractions) | per round | cost (req/s) | cost (CPU/request) | per round |")
    print("|---|---|---|---:|---|---:|---:|---|")
    frac = lambda x: x[0]["rps"] / x[1]["rps"]  # noqa: E731
    for durability in opts.durability.split(","):
        for name, _ in scenarios:
            log = results[(durability, "log", name)]
            for label, _, _ in builds[1:]:
                base = results[(durability, label, name)]
                costs = [1 - frac(a) / frac(b) for a, b in zip(log, base)]
                raw = statistics.median(1 - a[0]["rps"] / b[0]["rps"] for a, b in zip(log, base))
                cpu = [a[0]["cpu_us"] / b[0]["cpu_us"] - 1 for a, b in zip(log, base)]
                print(f"| {durability} | {name} | {label} | {statistics.median(costs):+.1%} | {', '.join(f'{c:+.1%}' for c in costs)} | "
                      f"{raw:+.1%} | {statistics.median(cpu):+.1%} | {', '.join(f'{c:+.1%}' for c in cpu)} |")


# ---------------------------------------------------------------- 2. a delta round of N changes


def timed_round(conn, link, page_size):
    """GET the deltaLink and follow nextLinks to the round's end; (seconds, pages, bytes, next deltaLink)."""
    hdrs = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    path, pages, size = link, 0, 0
    t0 = time.perf_counter()
    while True:
        conn.request("GET", path, headers=hdrs)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"GET {path} answered {resp.status}: {body[:300]!r}")
        pages += 1
        size += len(body)
        # The links come last in the page; find them without parsing the items.
        tail = body[-4096:].decode(errors="replace")
        m = re.search(r'"@odata\.nextLink":"([^"]+)"', tail)
        if not m:
            break
        path = path_of(m.group(1))
    elapsed = time.perf_counter() - t0
    m = re.search(r'"@odata\.deltaLink":"([^"]+)"', tail)
    return elapsed, pages, size, m and path_of(m.group(1))


def round_items(client, link, page_size):
    """The items of a round (parsed, for the check)."""
    items, path = [], link
    while path:
        page = client.json("GET", path, headers={"Prefer": f"odata.maxpagesize={page_size}"})
        items += page["value"]
        path = path_of(page["@odata.nextLink"]) if "@odata.nextLink" in page else None
    return items


def delta(opts, binary):
    data = tempfile.mkdtemp(prefix="runhub-bench-delta-")
    server = Server(data, "full", binary=binary, args=AUTH)
    try:
        client = Client(server.base)
        flow = make_flow(client)
        if opts.fill_seconds:
            wrk(server.base, "create.lua", [flow], opts.fill_seconds)
        before = client.json("GET", RUNS_PATH + "?$count=true&$top=1")["@odata.count"]
        latest = client.json("GET", DELTA_PATH + "?$deltatoken=latest")
        link = path_of(latest["@odata.deltaLink"])
        created = create_runs(client, flow, opts.changes, "delta")
        items = round_items(client, link, 999)
        ids = [i["id"] for i in items]
        if sorted(ids) != sorted(created):
            sys.exit(f"the round holds {len(ids)} items ({len(set(ids))} distinct), not the {len(created)} runs created")
        print(f"{before} runs before the deltaLink; the round holds exactly the {len(ids)} runs created after it", file=sys.stderr)

        conn = Client(server.base).conn
        modes = [(999, "Prefer: odata.maxpagesize=999"), (None, "default page (100)")]
        times = {m: [] for m, _ in modes}
        shape = {}
        for _ in range(opts.warmup):
            for m, _ in modes:
                timed_round(conn, link, m)
        for _ in range(opts.repeat):
            for m, _ in modes:
                elapsed, pages, size, nxt = timed_round(conn, link, m)
                if not nxt:
                    sys.exit("a round ended without a deltaLink")
                times[m].append(elapsed * 1000)
                shape[m] = (pages, size)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)

    print(f"\n### delta round: {header(git('rev-parse', '--short', 'HEAD'))}")
    print(f"{before} runs stored before the deltaLink, then {opts.changes} run creates; {opts.repeat} timed rounds per page size "
          f"(after {opts.warmup} untimed), one keep-alive connection\n")
    print("| page size | pages | bytes | median ms | p90 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m, label in modes:
        t = times[m]
        print(f"| {label} | {shape[m][0]} | {shape[m][1]} | {statistics.median(t):.2f} | {percentile(t, 90):.2f} | "
              f"{percentile(t, 99):.2f} | {max(t):.2f} |")


# ---------------------------------------------------------------- 3. live streams: commit to event


class SseStream:
    """One live stream over a raw socket: HTTP/1.1 response head, chunked body, SSE events."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET {DELTA_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.raw = b""  # bytes received, not yet de-chunked
        self.head = None
        self.chunked = False
        self.text = b""  # de-chunked body, not yet split into events
        self.events = []  # (arrival, run id)

    def feed(self, data, now):
        self.raw += data
        if self.head is None:
            if b"\r\n\r\n" not in self.raw:
                return
            self.head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            status = self.head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                sys.exit(f"a stream answered {status!r}")
            self.chunked = b"transfer-encoding: chunked" in self.head.lower()
        if self.chunked:
            while True:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(self.raw[:line_end].split(b";")[0], 16)
                if len(self.raw) < line_end + 2 + size + 2:
                    break
                self.text += self.raw[line_end + 2:line_end + 2 + size]
                self.raw = self.raw[line_end + 2 + size + 2:]
        else:
            self.text, self.raw = self.text + self.raw, b""
        while b"\n\n" in self.text:
            event, self.text = self.text.split(b"\n\n", 1)
            data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
            if data and b"event: change" in event:
                self.events.append((now, json.loads(b"\n".join(data))["id"]))


def writer(base, flow, rate, seconds, pipe):
    """Creates runs at `rate` per second for `seconds` (its own process: no GIL shared with the reader)."""
    client = Client(base)
    out = []
    t0 = time.monotonic() + 0.05
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        run = client.json("POST", f"/beta/industryData/incomingFlows/{flow}/runs", {"displayName": f"stream {i}"})
        out.append((run["id"], sent, time.monotonic()))
    pipe.send(out)
    pipe.close()


def stream_round(server, flow, opts):
    port = int(server.base.rsplit(":", 1)[1])
    sel = selectors.DefaultSelector()
    streams = [SseStream(port) for _ in range(opts.streams)]
    for s in streams:
        sel.register(s.sock, selectors.EVENT_READ, s)

    def pump(until, stop=lambda: False):
        while time.monotonic() < until and not stop():
            for key, _ in sel.select(timeout=0.05):
                data = key.fileobj.recv(65536)
                now = time.monotonic()
                if not data:
                    sys.exit("a stream closed")
                key.data.feed(data, now)

    # Every stream answered (its head came), then a moment for each stream's task to read its
    # starting watermark: a change committed before that would not be "from now".
    pump(time.monotonic() + 10, lambda: all(s.head is not None for s in streams))
    if not all(s.head is not None for s in streams):
        sys.exit("not every stream opened within 10 s")
    pump(time.monotonic() + 1)

    ctx = multiprocessing.get_context("fork")
    recv_end, send_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=writer, args=(server.base, flow, opts.rate, opts.seconds, send_end))
    proc.start()
    writes = None
    deadline = time.monotonic() + opts.seconds + 30
    while writes is None and time.monotonic() < deadline:
        pump(time.monotonic() + 0.2)
        if recv_end.poll():
            writes = recv_end.recv()
    proc.join()
    if writes is None:
        sys.exit("the writer did not finish")
    ids = {run_id for run_id, _, _ in writes}
    pump(time.monotonic() + 2, lambda: all(len(s.events) >= len(ids) for s in streams))
    for s in streams:
        sel.unregister(s.sock)
        s.sock.close()

    by_id = {run_id: (sent, acked) for run_id, sent, acked in writes}
    after_201, after_send, missing, extra = [], [], 0, 0
    for s in streams:
        seen = {}
        for arrival, run_id in s.events:
            if run_id not in by_id or run_id in seen:
                extra += 1
                continue
            seen[run_id] = arrival
            after_201.append((arrival - by_id[run_id][1]) * 1000)
            after_send.append((arrival - by_id[run_id][0]) * 1000)
        missing += len(ids - seen.keys())
    post_ms = [(acked - sent) * 1000 for _, sent, acked in writes]
    return {"after_201": after_201, "after_send": after_send, "missing": missing, "extra": extra, "post_ms": post_ms,
            "writes": len(writes)}


def stream(opts, binary):
    data = tempfile.mkdtemp(prefix="runhub-bench-stream-")
    server = Server(data, "full", binary=binary, args=AUTH)
    rounds = []
    try:
        flow = make_flow(Client(server.base))
        for r in range(opts.rounds):
            res = stream_round(server, flow, opts)
            rounds.append(res)
            a, b = res["after_201"], res["after_send"]
            print(f"[r{r}] {len(a)} (stream, event) pairs: after the 201 p50 {statistics.median(a):.1f} ms, p99 {percentile(a, 99):.1f} ms, "
                  f"max {max(a):.1f} ms; after sending p50 {statistics.median(b):.1f} ms, p99 {percentile(b, 99):.1f} ms; "
                  f"POST p50 {statistics.median(res['post_ms']):.1f} ms; missing {res['missing']}, unexpected {res['extra']}", file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)

    print(f"\n### live streams: {header(git('rev-parse', '--short', 'HEAD'))}")
    print(f"{opts.streams} streams, {opts.rate} creates/s for {opts.seconds} s per round, {opts.rounds} rounds, medians of the rounds\n")
    print("| round | pairs | missing | from 201: p50 ms | p99 ms | max ms | from send: p50 ms | p99 ms | POST p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    stats = []
    for i, res in enumerate(rounds):
        a, b, p = res["after_201"], res["after_send"], res["post_ms"]
        row = (statistics.median(a), percentile(a, 99), max(a), statistics.median(b), percentile(b, 99), statistics.median(p),
               percentile(p, 99))
        stats.append(row)
        print(f"| {i + 1} | {len(a)} | {res['missing']} | {row[0]:.1f} | {row[1]:.1f} | {row[2]:.1f} | {row[3]:.1f} | {row[4]:.1f} | "
              f"{row[5]:.1f} / {row[6]:.1f} |")
    med = [statistics.median(s[k] for s in stats) for k in range(7)]
    print(f"| median | | | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.1f} | {med[3]:.1f} | {med[4]:.1f} | {med[5]:.1f} / {med[6]:.1f} |")


# ----------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmarks", nargs="*", metavar="write-cost|delta|stream", help="which to run (default: all three)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are (write-cost: those left in target/bench-bins)")
    g = ap.add_argument_group("write-cost")
    g.add_argument("--rounds", type=int, default=10, help="write-cost rounds (stream: see --stream-rounds)")
    g.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    g.add_argument("--durability", default="full,relaxed", help="comma-separated: full, relaxed")
    g.add_argument("--patch-runs", type=int, default=2000, help="running runs per server for the patch scenario")
    g.add_argument("--pre-log", help="the pre-change-log commit (default: the parent of the commit that added "
                   "crates/store/src/changes.rs); 'none' to skip that build")
    g = ap.add_argument_group("delta")
    g.add_argument("--changes", type=int, default=1000, help="run creates after the deltaLink")
    g.add_argument("--fill-seconds", type=int, default=5, help="seconds of creates (wrk) before the deltaLink")
    g.add_argument("--repeat", type=int, default=300, help="timed rounds per page size")
    g.add_argument("--warmup", type=int, default=20, help="untimed rounds first")
    g = ap.add_argument_group("stream")
    g.add_argument("--streams", type=int, default=100)
    g.add_argument("--rate", type=float, default=20, help="run creates per second")
    g.add_argument("--seconds", type=float, default=10, help="seconds of writes per round")
    g.add_argument("--stream-rounds", type=int, default=3)
    opts = ap.parse_args()
    which = opts.benchmarks or ["write-cost", "delta", "stream"]
    unknown = set(which) - {"write-cost", "delta", "stream"}
    if unknown:
        ap.error(f"unknown benchmark {', '.join(sorted(unknown))}: choose among write-cost, delta, stream")

    ensure_wrk()
    if opts.no_build:
        head_bin = os.path.join(TARGET, "release", "runhub")
    else:
        head_bin = build_head()
    if git("status", "--porcelain", "--", "crates", "src", "Cargo.toml", "Cargo.lock"):
        print("NOTE: the working tree has uncommitted source changes: 'log' is built from them, the baselines from commits",
              file=sys.stderr)
    if "write-cost" in which:
        write_cost(opts, head_bin)
    if "delta" in which:
        delta(opts, head_bin)
    if "stream" in which:
        opts.rounds = opts.stream_rounds
        stream(opts, head_bin)


if __name__ == "__main__":
    main()
