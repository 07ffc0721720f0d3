#!/usr/bin/env python3
"""The real Microsoft Graph Python SDK (msgraph-beta-sdk, pinned in requirements.txt)
against a live runhub, with no Azure sign-in: kiota's AnonymousAuthenticationProvider and a custom
base URL. Seeds data through runhub's own API, then lists (following every page with the SDK's
PageIterator), filters, orders, counts, reads one run, its activities and its statistics, starts a
run, follows a delta round to its deltaLink and the changes after it, and checks every value came
back typed and equal to what was stored. Then sends JSON batches with msgraph-core's
BatchRequestContent (relative and absolute item URLs, a body, depends_on, a failed dependency) and
BatchRequestContentCollection (more than 20 requests, split by the SDK). Last, subscribes with the
SDK's Subscription model to a receiver in this process (validation handshake included), checks the
notification a new run causes (the SDK has no model of notifications), renews, lists and deletes it.

Run: python tests/sdk/test_sdk.py [path/to/runhub]  (default: $RUNHUB_BIN, target/release/runhub,
target/debug/runhub). Exits non-zero on any failure, including when it cannot run at all.
"""

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphServiceClient
from msgraph_beta.graph_request_adapter import GraphRequestAdapter
from msgraph_beta.generated.models.industry_data.inbound_activity_results import InboundActivityResults
from msgraph_beta.generated.models.industry_data.inbound_flow_activity import InboundFlowActivity
from msgraph_beta.generated.models.industry_data.industry_data_activity_status import IndustryDataActivityStatus
from msgraph_beta.generated.models.industry_data.industry_data_run import IndustryDataRun
from msgraph_beta.generated.models.industry_data.industry_data_run_collection_response import IndustryDataRunCollectionResponse
from msgraph_beta.generated.models.industry_data.industry_data_run_statistics import IndustryDataRunStatistics
from msgraph_beta.generated.models.industry_data.industry_data_run_status import IndustryDataRunStatus
from msgraph_beta.generated.models.industry_data.outbound_flow_activity import OutboundFlowActivity
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_content_collection import BatchRequestContentCollection
from msgraph_core.requests.batch_request_item import BatchRequestItem
from msgraph_core.tasks.page_iterator import PageIterator
from msgraph_beta.generated.models.subscription import Subscription

ROOT = Path(__file__).resolve().parents[2]


def find_binary() -> Path:
    candidates = [sys.argv[1]] if len(sys.argv) > 1 else []
    if os.environ.get("RUNHUB_BIN"):
        candidates.append(os.environ["RUNHUB_BIN"])
    candidates += [ROOT / "target/release/runhub", ROOT / "target/debug/runhub"]
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    raise SystemExit(f"FAIL: no runhub binary found (tried {', '.join(map(str, candidates))}); build it first")


class Runhub:
    """A live runhub on a free port over a temporary data directory."""

    def __init__(self, binary: Path):
        self.dir = tempfile.TemporaryDirectory(prefix="runhub-sdk-")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir.name, "--schedule-interval", "0",
             # The webhook receiver below listens on loopback over plain http.
             "--webhook-allow-http", "--webhook-allow-private"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.stop()
            raise SystemExit(f"FAIL: runhub did not start: {line!r}")
        self.base = line.strip().split("listening on ", 1)[1]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None


def parse_time(text):
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def seed(hub: Runhub):
    """Flows, member runs and groups through runhub's own API; returns {group id: stored group}."""
    flow_in = hub.call("POST", "/beta/industryData/incomingFlows", {"displayName": "SIS roster", "readinessStatus": "ready"})["id"]
    flow_out = hub.call("POST", "/beta/industryData/outgoingFlows", {"displayName": "Export", "readinessStatus": "ready"})["id"]
    statuses = ["completed", "failed", "completed", "completedWithWarnings", "running", "completed", "completedWithErrors"]
    groups = {}
    for i, status in enumerate(statuses):
        start = f"2026-0{1 + i % 9}-1{i}T08:00:00.25Z"
        group = hub.call("POST", "/beta/industryData/runGroups", {"displayName": f"group {i:02}", "startDateTime": start})
        gid = group["id"]
        member = {"@odata.type": "#microsoft.graph.industryData.incomingFlowRun",
                  "process@odata.bind": f"{hub.base}/beta/industryData/incomingFlows/{flow_in}",
                  "displayName": f"import {i}", "startDateTime": start, "status": status,
                  "statistics": {"errors": i, "warnings": 2 * i, "people": 100 + i, "groups": 3, "memberships": 10 * i, "organizations": 1}}
        if status == "failed":
            member["blockingError"] = {"code": "sisDown", "message": "the SIS did not answer"}
        hub.call("POST", f"/beta/industryData/runGroups/{gid}/runs", member)
        hub.call("POST", f"/beta/industryData/runGroups/{gid}/runs", {
            "@odata.type": "#microsoft.graph.industryData.outgoingFlowRun",
            "process@odata.bind": f"{hub.base}/beta/industryData/outgoingFlows/{flow_out}",
            "displayName": f"export {i}", "startDateTime": start, "status": "completed"})
        groups[gid] = hub.call("GET", f"/beta/industryData/runGroups/{gid}")
    return groups


def check_run(run, stored):
    assert isinstance(run, IndustryDataRun), type(run)
    assert run.odata_type == "#microsoft.graph.industryData.industryDataRun", run.odata_type
    assert run.id == stored["id"]
    assert run.display_name == stored["displayName"]
    assert isinstance(run.status, IndustryDataRunStatus), type(run.status)
    assert run.status.value == stored["status"], (run.status, stored["status"])
    assert isinstance(run.start_date_time, dt.datetime) and run.start_date_time.tzinfo is not None, run.start_date_time
    assert run.start_date_time == parse_time(stored["startDateTime"]), (run.start_date_time, stored["startDateTime"])
    if stored["endDateTime"] is None:
        assert run.end_date_time is None
    else:
        assert isinstance(run.end_date_time, dt.datetime) and run.end_date_time == parse_time(stored["endDateTime"])


async def main(hub: Runhub):
    stored = seed(hub)
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = f"{hub.base}/beta"
    client = GraphServiceClient(request_adapter=adapter)
    runs = client.external.industry_data.runs
    newest_first = sorted(stored.values(), key=lambda g: (-parse_time(g["startDateTime"]).timestamp(), g["id"]))

    # List with a small page size and follow every page with the SDK's PageIterator.
    Q = runs.RunsRequestBuilderGetQueryParameters
    first = await runs.get(RequestConfiguration(query_parameters=Q(top=2, count=True)))
    assert isinstance(first, IndustryDataRunCollectionResponse)
    assert first.odata_count == len(stored), first.odata_count
    assert first.odata_next_link and first.odata_next_link.startswith("http"), first.odata_next_link
    seen = []

    def collect(item):
        seen.append(item)
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(collect)
    assert [r.id for r in seen] == [g["id"] for g in newest_first], "every page, newest first, each run once"
    for run in seen:
        check_run(run, stored[run.id])

    # Filter by enum, order, count.
    completed = await runs.get(RequestConfiguration(query_parameters=Q(filter="status eq 'completed'", orderby=["displayName desc"])))
    expected = sorted((g for g in stored.values() if g["status"] == "completed"), key=lambda g: g["displayName"], reverse=True)
    assert [r.id for r in completed.value] == [g["id"] for g in expected], [r.display_name for r in completed.value]
    assert all(r.status == IndustryDataRunStatus.Completed for r in completed.value)
    by_name = await runs.get(RequestConfiguration(query_parameters=Q(orderby=["displayName"], select=["displayName", "status"])))
    assert [r.display_name for r in by_name.value] == sorted(g["displayName"] for g in stored.values())
    count = await runs.count.get()
    assert count == len(stored), count
    CQ = runs.count.CountRequestBuilderGetQueryParameters
    count_failed = await runs.count.get(RequestConfiguration(query_parameters=CQ(filter="status eq 'failed'")))
    assert count_failed == 1, count_failed

    # One run; its activities; its statistics.
    failed = next(g for g in stored.values() if g["status"] == "failed")
    one = await runs.by_industry_data_run_id(failed["id"]).get()
    check_run(one, failed)
    assert one.status == IndustryDataRunStatus.Failed
    running = next(g for g in stored.values() if g["status"] == "running")
    item = runs.by_industry_data_run_id(running["id"])
    activities = await item.activities.get()
    kinds = sorted(type(a).__name__ for a in activities.value)
    assert kinds == ["InboundFlowActivity", "OutboundFlowActivity"], kinds
    inbound = next(a for a in activities.value if isinstance(a, InboundFlowActivity))
    outbound = next(a for a in activities.value if isinstance(a, OutboundFlowActivity))
    assert inbound.status == IndustryDataActivityStatus.InProgress, inbound.status
    assert outbound.status == IndustryDataActivityStatus.Completed, outbound.status
    members = hub.call("GET", f"/beta/industryData/runGroups/{running['id']}/runs")["value"]
    member_in = next(m for m in members if m["@odata.type"].endswith("incomingFlowRun"))
    assert inbound.id == member_in["id"] and inbound.display_name == member_in["displayName"]
    AQ = item.activities.ActivitiesRequestBuilderGetQueryParameters
    in_progress = await item.activities.get(RequestConfiguration(query_parameters=AQ(filter="status eq 'inProgress'")))
    assert [a.id for a in in_progress.value] == [inbound.id]
    assert await item.activities.count.get() == 2
    one_activity = await item.activities.by_industry_data_run_activity_id(inbound.id).get()
    assert isinstance(one_activity, InboundFlowActivity) and one_activity.id == inbound.id
    flow = await item.activities.by_industry_data_run_activity_id(inbound.id).activity.get()
    assert flow.display_name == "SIS roster", flow
    failed_act = await runs.by_industry_data_run_id(failed["id"]).activities.get(RequestConfiguration(query_parameters=AQ(filter="status eq 'failed'")))
    assert failed_act.value[0].blocking_error.code == "sisDown", failed_act.value[0].blocking_error

    warned = next(g for g in stored.values() if g["status"] == "completedWithWarnings")
    stats = await runs.by_industry_data_run_id(warned["id"]).microsoft_graph_industry_data_get_statistics.get()
    assert isinstance(stats, IndustryDataRunStatistics), type(stats)
    assert stats.run_id == warned["id"]
    assert stats.status == IndustryDataRunStatus.CompletedWithWarnings
    wm = hub.call("GET", f"/beta/industryData/runGroups/{warned['id']}/runs?$filter=isof('microsoft.graph.industryData.incomingFlowRun')")["value"][0]
    assert len(stats.activity_statistics) == 1
    act = stats.activity_statistics[0]
    assert isinstance(act, InboundActivityResults), type(act)
    assert act.activity_id == wm["id"] and act.display_name == wm["displayName"]
    assert act.status == IndustryDataActivityStatus.CompletedWithWarnings
    assert (act.errors, act.warnings) == (wm["statistics"]["errors"], wm["statistics"]["warnings"])
    t = stats.inbound_totals
    s = wm["statistics"]
    assert (t.errors, t.warnings, t.people, t.groups, t.memberships, t.organizations) == (
        s["errors"], s["warnings"], s["people"], s["groups"], s["memberships"], s["organizations"]), t
    newest = await runs.microsoft_graph_industry_data_get_statistics.get()
    assert newest.run_id == newest_first[0]["id"], (newest.run_id, newest_first[0]["id"])

    # Start a run: 202, no body; a new running group with one inProgress activity per ready flow.
    result = await runs.microsoft_graph_industry_data_start.post()
    assert result is None
    assert await runs.count.get() == len(stored) + 1
    latest = (await runs.get(RequestConfiguration(query_parameters=Q(top=1)))).value[0]
    assert latest.id not in stored and latest.status == IndustryDataRunStatus.Running
    started = await runs.by_industry_data_run_id(latest.id).activities.get()
    assert [(type(a).__name__, a.status, a.display_name) for a in started.value] == [("InboundFlowActivity", IndustryDataActivityStatus.InProgress, "SIS roster")]

    # Delta (docs/change-tracking.md): the SDK's own request builder, pointed with with_url() at
    # runhub's delta of the runGroups, follows a round page by page to its deltaLink, then the
    # deltaLink after changes. Items arrive as typed industryDataRun objects; a deletion as an
    # object whose only data is its id and `@removed`.
    delta_config = RequestConfiguration()
    delta_config.headers.add("Prefer", "odata.maxpagesize=3")

    async def delta_round(url):
        items, pages = [], 0
        while True:
            page = await runs.with_url(url).get(delta_config)
            pages += 1
            items += page.value
            delta_link = (page.additional_data or {}).get("@odata.deltaLink")
            assert (page.odata_next_link is None) != (delta_link is None), (page.odata_next_link, delta_link)
            if page.odata_next_link:
                assert page.odata_next_link.startswith("http"), page.odata_next_link
                url = page.odata_next_link
            else:
                assert delta_link.startswith("http"), delta_link
                return items, delta_link, pages

    groups_now = {g["id"] for g in hub.call("GET", "/beta/industryData/runGroups?$top=999")["value"]}
    first_url = f"{hub.base}/beta/industryData/runs/microsoft.graph.delta()?$filter=isof(%27microsoft.graph.industryData.runGroup%27)"
    items, delta_link, pages = await delta_round(first_url)
    assert {r.id for r in items} == groups_now and len(items) == len(groups_now), "the first round: every group, once"
    assert pages == (len(groups_now) + 2) // 3, pages
    for run in items:
        assert isinstance(run, IndustryDataRun) and isinstance(run.status, IndustryDataRunStatus), run
    renamed, gone = newest_first[1]["id"], newest_first[2]["id"]
    hub.call("PATCH", f"/beta/industryData/runGroups/{renamed}", {"displayName": "renamed by delta test"})
    hub.call("DELETE", f"/beta/industryData/runGroups/{gone}")
    changed, _, _ = await delta_round(delta_link)
    by_id = {r.id: r for r in changed}
    assert set(by_id) == {renamed, gone}, set(by_id)
    assert by_id[renamed].display_name == "renamed by delta test"
    assert by_id[gone].additional_data.get("@removed") == {"reason": "deleted"}, by_id[gone].additional_data

    # Errors arrive as the SDK's typed ODataError.
    from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
    try:
        await runs.by_industry_data_run_id("00000000-0000-0000-0000-000000000001").get()
        raise AssertionError("expected a 404")
    except ODataError as e:
        assert e.response_status_code == 404 and e.error.code == "itemNotFound", (e.response_status_code, e.error)
    await check_batches(hub, adapter, runs, failed)
    await check_subscriptions(hub, client)
    print(f"OK: msgraph-beta-sdk drove runhub at {hub.base}: {len(seen)} runs over {1 + len(seen) // 2} pages, filter, orderby, count, activities, statistics, start, a delta round and its deltaLink, $batch, a subscription and its notification")


async def check_batches(hub: Runhub, adapter, runs, failed):
    """msgraph-core's batch support against runhub's $batch (docs/batch.md). Its quirks: items carry
    `depends_on` (snake case), so runhub accepts that spelling; the SDK cannot read an item's body
    that is embedded JSON (it expects base64), so bodies are checked through runhub's own API;
    BatchResponseContentCollection.responses_status_codes raises, so statuses are read per batch."""
    missing_id = "00000000-0000-0000-0000-000000000001"
    # Items from the generated request builders carry relative URLs; one built from a full URL is
    # sent absolute (http://host/beta/...).
    listing = BatchRequestItem(runs.to_get_request_information(), id="list")
    one = BatchRequestItem(runs.by_industry_data_run_id(failed["id"]).to_get_request_information(), id="one")
    missing = BatchRequestItem(runs.by_industry_data_run_id(missing_id).to_get_request_information(), id="missing")
    info = RequestInformation()
    info.http_method = Method.POST
    info.url = f"{hub.base}/beta/industryData/runGroups"
    info.headers.try_add("Content-Type", "application/json")
    info.content = json.dumps({"displayName": "made by the SDK's batch"}).encode()
    create = BatchRequestItem(info, id="create", depends_on=[listing])
    after_missing = BatchRequestItem(runs.to_get_request_information(), id="after-missing", depends_on=["missing"])
    content = BatchRequestContent()
    for item in (listing, one, missing, create, after_missing):
        content.add_request(item.id, item)
    response = await BatchRequestBuilder(adapter).post(content)
    statuses = response.get_response_status_codes()
    assert statuses == {"list": 200, "one": 200, "missing": 404, "create": 201, "after-missing": 424}, statuses
    for rid in statuses:
        item = response.get_response_by_id(rid)
        assert item.content_type and item.content_type.startswith("application/json"), (rid, item.headers)
        assert item.headers.get("request-id"), (rid, item.headers)
    made = response.get_response_by_id("create")
    location = made.headers["location"]
    assert location.startswith(f"{hub.base}/beta/industryData/runGroups/"), location
    group = hub.call("GET", location[len(hub.base):])
    assert group["displayName"] == "made by the SDK's batch", group
    assert made.headers["etag"] == group["@odata.etag"], (made.headers, group)

    # More than 20 requests: the SDK's collection splits them into batches of at most 20; runhub
    # answers each batch.
    collection = BatchRequestContentCollection()
    for i in range(25):
        collection.add_batch_request_item(BatchRequestItem(runs.by_industry_data_run_id(failed["id"]).to_get_request_information(), id=f"get-{i}"))
    results = await BatchRequestBuilder(adapter).post(collection)
    per_batch = [r.get_response_status_codes() for r in results.get_responses()]
    assert sorted(len(codes) for codes in per_batch) == [5, 20], [len(c) for c in per_batch]
    merged = {rid: status for codes in per_batch for rid, status in codes.items()}
    assert merged == {f"get-{i}": 200 for i in range(25)}, merged


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver as Graph's docs write one: echo validationToken, 202 for notifications."""
    bodies = []

    def do_POST(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if "validationToken" in query:
            token = query["validationToken"][0].encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(token)))
            self.end_headers()
            self.wfile.write(token)
            return
        Receiver.bodies.append(body)
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


async def check_subscriptions(hub: Runhub, client):
    """The SDK's subscription requests and notification model (docs/webhooks.md)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
        made = await client.subscriptions.post(Subscription(
            change_type="created,updated", notification_url=url, resource="industryData/runs",
            expiration_date_time=expires, client_state="from-the-sdk"))
        assert made.id and made.resource == "industryData/runs" and made.client_state == "from-the-sdk", made
        assert made.expiration_date_time == expires, (made.expiration_date_time, expires)
        flow = hub.call("POST", "/beta/industryData/incomingFlows", {"displayName": "sdk hooks", "readinessStatus": "ready"})
        run = hub.call("POST", f"/beta/industryData/incomingFlows/{flow['id']}/runs", {"displayName": "heard"})
        deadline = time.time() + 20
        while not Receiver.bodies and time.time() < deadline:
            await asyncio.sleep(0.1)
        assert Receiver.bodies, "no notification arrived"
        note = json.loads(Receiver.bodies[0])["value"][0]
        assert note["subscriptionId"] == made.id and note["clientState"] == "from-the-sdk", note
        assert note["changeType"] == "created" and note["resource"] == f"industryData/runs/{run['id']}", note
        assert note["resourceData"]["@odata.type"] == "#microsoft.graph.industryData.incomingFlowRun", note
        assert note["tenantId"], note
        later = expires + dt.timedelta(hours=1)
        renewed = await client.subscriptions.by_subscription_id(made.id).patch(Subscription(expiration_date_time=later))
        assert renewed.expiration_date_time == later, renewed
        listed = await client.subscriptions.get()
        assert [s.id for s in listed.value] == [made.id], listed.value
        await client.subscriptions.by_subscription_id(made.id).delete()
        assert (await client.subscriptions.get()).value == []
    finally:
        server.shutdown()


if __name__ == "__main__":
    hub = Runhub(find_binary())
    try:
        asyncio.run(main(hub))
    finally:
        hub.stop()
