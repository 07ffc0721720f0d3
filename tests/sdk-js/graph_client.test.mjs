// The Microsoft Graph JavaScript client (@microsoft/microsoft-graph-client, pinned in package.json)
// against a live runhub over HTTPS. tests/sdk_js.rs makes a test CA and a server certificate,
// starts `runhub serve --tls-cert … --tls-key … --auth jwt`, mints a token and runs this file with
//   RUNHUB_BASE=https://127.0.0.1:PORT  RUNHUB_TOKEN=<bearer token>  NODE_EXTRA_CA_CERTS=<ca.pem>
// Run it by hand the same way (`node --test tests/sdk-js/graph_client.test.mjs`) after `npm ci`
// in tests/sdk-js.

import { test } from "node:test";
import assert from "node:assert/strict";
import graph from "@microsoft/microsoft-graph-client";

const { Client, PageIterator, GraphError, ResponseType, BatchRequestContent, BatchResponseContent } = graph;

const base = process.env.RUNHUB_BASE;
const token = process.env.RUNHUB_TOKEN;
if (!base || !base.startsWith("https://") || !token) {
  throw new Error("set RUNHUB_BASE (the https:// address of a live runhub) and RUNHUB_TOKEN; tests/sdk_js.rs does both");
}

const client = Client.init({
  baseUrl: base,
  defaultVersion: "beta",
  // The client attaches the bearer token only to https:// URLs on Graph's hosts and these (host
  // names without the port).
  customHosts: new Set([new URL(base).hostname]),
  authProvider: (done) => done(null, token),
});

const NS = "microsoft.graph.industryData";

async function flow(name, extra = {}) {
  return client.api("/industryData/incomingFlows").post({ displayName: name, readinessStatus: "ready", ...extra });
}

async function runOf(flowId, body) {
  return client.api(`/industryData/incomingFlows/${flowId}/runs`).post({ displayName: "run", ...body });
}

/** The GraphError a request fails with (fails the test when it does not fail). */
async function graphError(request) {
  try {
    await request();
  } catch (e) {
    assert.ok(e instanceof GraphError, `not a GraphError: ${e}`);
    return e;
  }
  assert.fail("the request succeeded");
}

function assertHttps(url, what) {
  assert.equal(typeof url, "string", `${what} is missing`);
  assert.ok(url.startsWith(`${base}/beta/`), `${what} is not below ${base}/beta/: ${url}`);
}

test("create, get, patch and delete a run", async () => {
  const f = await flow("crud");
  const created = await runOf(f.id, { statistics: { people: 1 } });
  assert.equal(created["@odata.type"], `#${NS}.incomingFlowRun`);
  assert.equal(created.status, "running");
  assertHttps(created["@odata.context"], "@odata.context");

  const got = await client.api(`/industryData/runs/${created.id}`).get();
  assert.equal(got.id, created.id);
  assert.equal(got.displayName, "run");
  assert.equal(got["@odata.etag"], created["@odata.etag"]);

  const patched = await client.api(`/industryData/runs/${created.id}`).patch({ status: "completedWithWarnings", statistics: { people: 2, warnings: 1 } });
  assert.equal(patched.status, "completedWithWarnings");
  assert.equal(patched.statistics.people, 2);
  assert.ok(patched.endDateTime, "finishing sets endDateTime");
  assert.notEqual(patched["@odata.etag"], created["@odata.etag"]);

  // Created finished, with an end the client took from its own clock and no start.
  const imported = await runOf(f.id, { status: "completed", endDateTime: new Date(Date.now() - 1000).toISOString() });
  assert.equal(imported.startDateTime, imported.endDateTime);

  assert.equal(await client.api(`/industryData/runs/${created.id}`).delete(), undefined);
  await client.api(`/industryData/runs/${imported.id}`).delete();
  const gone = await graphError(() => client.api(`/industryData/runs/${created.id}`).get());
  assert.equal(gone.statusCode, 404);
  await client.api(`/industryData/incomingFlows/${f.id}`).delete();
});

test("PageIterator returns every run exactly once across pages, while runs are being added", async () => {
  const f = await flow("paging");
  const stored = new Set();
  for (let i = 0; i < 23; i++) {
    stored.add((await runOf(f.id, { displayName: `page run ${i}`, startDateTime: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString() })).id);
  }
  const first = await client.api(`/industryData/incomingFlows/${f.id}/runs`).top(5).get();
  assert.equal(first.value.length, 5);
  assertHttps(first["@odata.nextLink"], "@odata.nextLink");

  const seen = [];
  let pages = 0;
  const iterator = new PageIterator(client, first, (run) => {
    seen.push(run.id);
    // Pause after every page so that a run can be inserted between pages.
    return seen.length % 5 !== 0;
  });
  await iterator.iterate();
  while (!iterator.isComplete()) {
    pages++;
    // Newer than every stored run: it sorts before the cursor and must not show up again or shift the pages.
    await runOf(f.id, { displayName: `added during paging ${pages}` });
    await iterator.resume();
  }
  assert.ok(pages >= 4, `expected several pages, got ${pages + 1}`);
  assert.equal(seen.length, stored.size, "each run once");
  assert.deepEqual(new Set(seen), stored);
});

test("filter, orderby, count, select and expand", async () => {
  const f = await flow("query options");
  for (const [name, status] of [["a", "failed"], ["b", "completed"], ["c", "failed"], ["d", "failed"], ["e", "completedWithErrors"]]) {
    await runOf(f.id, { displayName: name, status, startDateTime: "2024-02-01T00:00:00Z" });
  }
  const page = await client
    .api("/industryData/runs")
    .filter(`status eq 'failed' and process/id eq '${f.id}'`)
    .orderby("displayName desc")
    .count(true)
    .select(["displayName", "status"])
    .expand("process")
    .top(2)
    .get();
  assert.equal(page["@odata.count"], 3);
  assert.deepEqual(page.value.map((r) => r.displayName), ["d", "c"]);
  for (const run of page.value) {
    assert.ok(run.id && run["@odata.type"], "id and @odata.type always come back");
    assert.equal(run.startDateTime, undefined, "not selected");
    assert.equal(run.process.id, f.id);
    assert.equal(run.process["@odata.type"], `#${NS}.incomingFlow`);
  }
  assertHttps(page["@odata.nextLink"], "@odata.nextLink");
  const rest = await client.api(page["@odata.nextLink"]).get();
  assert.deepEqual(rest.value.map((r) => r.displayName), ["a"]);
  assert.equal(rest["@odata.count"], 3);

  const count = await client.api(`/industryData/incomingFlows/${f.id}/runs/$count`).get();
  assert.equal(String(count), "5");
});

test("GraphError carries statusCode, code and message on 404, 400, 409 and 412", async () => {
  const f = await flow("errors");
  const run = await runOf(f.id, {});

  const missing = await graphError(() => client.api("/industryData/runs/00000000-0000-0000-0000-000000000000").get());
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.code, "itemNotFound");
  assert.ok(missing.message.length > 0);
  assert.ok(missing.requestId, "innerError.request-id");

  const bad = await graphError(() => client.api("/industryData/runs").filter("status eq").get());
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.code, "badRequest");
  assert.match(bad.message, /\$filter/);

  const inUse = await graphError(() => client.api(`/industryData/incomingFlows/${f.id}`).delete());
  assert.equal(inUse.statusCode, 409);
  assert.equal(inUse.code, "conflict");
  assert.ok(inUse.message.length > 0);

  const stale = await graphError(() => client.api(`/industryData/runs/${run.id}`).header("If-Match", '"999"').patch({ displayName: "x" }));
  assert.equal(stale.statusCode, 412);
  assert.equal(stale.code, "preconditionFailed");
  assert.ok(stale.message.length > 0);
});

test("the published paths: runs, activities, getStatistics and start", async () => {
  const f = await flow("published");
  const started = await client.api("/external/industryData/runs/microsoft.graph.industryData.start").responseType(ResponseType.RAW).post({});
  assert.equal(started.status, 202);
  const location = started.headers.get("location");
  assertHttps(location, "Location");

  const group = await client.api(location).get();
  assert.equal(group["@odata.type"], `#${NS}.industryDataRun`);
  assert.equal(group.status, "running");

  const runs = await client.api("/external/industryData/runs").filter(`id eq '${group.id}'`).get();
  assert.deepEqual(runs.value.map((r) => r.id), [group.id]);
  assertHttps(runs["@odata.context"], "@odata.context");

  const activities = await client.api(`/external/industryData/runs/${group.id}/activities`).expand("activity").get();
  const mine = activities.value.find((a) => a.activity && a.activity.id === f.id);
  assert.ok(mine, `no activity of flow ${f.id}: ${JSON.stringify(activities.value)}`);
  assert.equal(mine["@odata.type"], `#${NS}.inboundFlowActivity`);
  assert.equal(mine.status, "inProgress");

  await client.api(`/industryData/runs/${mine.id}`).patch({ status: "completedWithWarnings", statistics: { people: 7, warnings: 2 } });
  const stats = await client.api(`/external/industryData/runs/${group.id}/microsoft.graph.industryData.getStatistics`).get();
  assert.equal(stats.runId, group.id);
  const result = stats.activityStatistics.find((r) => r.activityId === mine.id);
  assert.equal(result.status, "completedWithWarnings");
  assert.equal(result.warnings, 2);
  assert.ok(stats.inboundTotals.people >= 7);
});

test("BatchRequestContent with dependsOn against $batch", async () => {
  // The client itself accepts only dependency chains (each request depends on the one before).
  const send = async (items) => new BatchResponseContent(await client.api("/$batch").post(await new BatchRequestContent(items).getContent()));
  const f = await flow("batch");
  const runs = `${base}/beta/industryData/incomingFlows/${f.id}/runs`;
  const made = await send([
    {
      id: "create",
      request: new Request(runs, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ displayName: "from a batch" }) }),
    },
    { id: "list", request: new Request(runs, { method: "GET" }), dependsOn: ["create"] },
  ]);
  assert.equal(made.getResponseById("create").status, 201);
  assertHttps(made.getResponseById("create").headers.get("location"), "Location");
  const listed = await made.getResponseById("list").json();
  assert.deepEqual(listed.value.map((r) => r.displayName), ["from a batch"]);

  const failed = await send([
    { id: "missing", request: new Request(`${base}/beta/industryData/runs/00000000-0000-0000-0000-000000000001`, { method: "GET" }) },
    { id: "after-missing", request: new Request(`${base}/beta/industryData/runs`, { method: "GET" }), dependsOn: ["missing"] },
  ]);
  assert.equal(failed.getResponseById("missing").status, 404);
  assert.equal(failed.getResponseById("after-missing").status, 424);
  // The create really happened, once.
  const stored = await client.api(`/industryData/incomingFlows/${f.id}/runs`).get();
  assert.equal(stored.value.length, 1);
});

test("a delta round followed to its deltaLink, then the changes after it", async () => {
  const f = await flow("delta");
  const r = await runOf(f.id, { displayName: "before" });
  const gone = await runOf(f.id, { displayName: "to delete" });
  // The first round lists every run, page by page, and ends with a deltaLink.
  const seen = new Set();
  let page = await client.api("/industryData/runs/delta").header("Prefer", "odata.maxpagesize=10").get();
  for (let pages = 1; page["@odata.nextLink"]; pages++) {
    assert.ok(pages < 1000, "the round never ends");
    assert.equal(page["@odata.deltaLink"], undefined);
    page.value.forEach((v) => seen.add(v.id));
    assertHttps(page["@odata.nextLink"], "@odata.nextLink");
    page = await client.api(page["@odata.nextLink"]).header("Prefer", "odata.maxpagesize=10").get();
  }
  page.value.forEach((v) => seen.add(v.id));
  assert.ok(seen.has(r.id) && seen.has(gone.id));
  const deltaLink = page["@odata.deltaLink"];
  assertHttps(deltaLink, "@odata.deltaLink");

  await client.api(`/industryData/runs/${r.id}`).patch({ displayName: "after" });
  await client.api(`/industryData/runs/${gone.id}`).delete();
  const next = await client.api(deltaLink).get();
  const byId = new Map(next.value.map((v) => [v.id, v]));
  assert.equal(byId.get(r.id).displayName, "after");
  assert.deepEqual(byId.get(gone.id)["@removed"], { reason: "deleted" });
  assertHttps(next["@odata.deltaLink"], "the next @odata.deltaLink");
});
