// One run: every property, its statistics (as a table and as JSON), its blocking error, its process;
// for a runGroup its members, their counts and the errors-and-warnings CSV.
import { html, useState } from '../vendor/htm-preact.js';
import { api, kindOf, KIND_LABEL } from '../api.js';
import { STATUSES, Status, Time, runDuration, plural } from '../format.js';
import { useLoad, useLive, useNow, Loading, ErrorBox, Empty } from '../ui.js';
import { RunsTable } from './runs.js';

// Statistics as rows of (dotted path, value); arrays and nested objects are walked.
function flatten(value, prefix = '', out = []) {
  if (value && typeof value === 'object' && !(Array.isArray(value) && value.length === 0) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) {
      if (k === '@odata.type') continue;
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}

function show(v) {
  if (v === null) return html`<span class="muted">null</span>`;
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'number') return v.toLocaleString('en');
  return String(v);
}

function Statistics({ statistics }) {
  const rows = flatten(statistics || {});
  return html`<section class="panel" aria-labelledby="stats-title">
    <h2 id="stats-title">Statistics</h2>
    <div class="split">
      <div>
        ${rows.length
          ? html`<table class="kv"><caption class="sr-only">Statistics</caption>
              <thead><tr><th scope="col">Statistic</th><th scope="col" class="num">Value</th></tr></thead>
              <tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td class="num">${show(v)}</td></tr>`)}</tbody>
            </table>`
          : html`<${Empty}>This run has no statistics.</${Empty}>`}
      </div>
      <div>
        <h3 class="small-title">Raw JSON</h3>
        <pre class="json" tabindex="0" aria-label="Statistics as JSON">${JSON.stringify(statistics || {}, null, 2)}</pre>
      </div>
    </div>
  </section>`;
}

function BlockingError({ error }) {
  return html`<section class="panel" aria-labelledby="err-title">
    <h2 id="err-title">Blocking error</h2>
    ${error
      ? html`<div class="blocking" role="note">
          <p><strong class="code">${error.code || 'no code'}</strong>${error.target ? html` <span class="muted">on ${error.target}</span>` : null}</p>
          <p class="message">${error.message || 'no message'}</p>
          ${error.details && error.details.length
            ? html`<ul>${error.details.map((d) => html`<li><strong>${d.code}</strong> ${d.message}${d.target ? html` <span class="muted">(${d.target})</span>` : null}</li>`)}</ul>`
            : null}
          ${error.innerError ? html`<pre class="json">${JSON.stringify(error.innerError, null, 2)}</pre>` : null}
        </div>`
      : html`<p class="muted">None: nothing blocked this run.</p>`}
  </section>`;
}

function MemberCounts({ counts }) {
  if (!counts) return null;
  const items = STATUSES.filter((s) => counts[s.id]);
  return html`<div class="counts" aria-label="Member runs by status">
    <span class="count-total">${plural(counts.total || 0, 'member run')}</span>
    ${items.map((s) => html`<span class="count"><${Status} status=${s.id} /> <strong>${counts[s.id]}</strong></span>`)}
  </div>`;
}

function ErrorsCsv({ id }) {
  const [state, setState] = useState({ busy: false });
  const download = async () => {
    setState({ busy: true });
    try {
      const r = await api(`/beta/industryData/runGroups/${encodeURIComponent(id)}/getErrorsAndWarningsFile`);
      const csv = r.data.value || '';
      const lines = csv.split(/\r?\n/).filter((l) => l).length - 1;
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `runhub-errors-${id}.csv`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setState({ busy: false, done: lines, csv });
    } catch (error) {
      setState({ busy: false, error });
    }
  };
  return html`<div class="csv">
    <button type="button" onClick=${download} disabled=${state.busy}>${state.busy ? 'Preparing…' : 'Download errors and warnings (CSV)'}</button>
    ${state.done != null
      ? html`<p role="status">Downloaded the CSV: ${plural(state.done, 'member run')} with errors or warnings.</p>
          <details><summary>Show the CSV</summary><pre class="json">${state.csv}</pre></details>`
      : null}
    ${state.error ? html`<${ErrorBox} error=${state.error} what="the errors and warnings file" />` : null}
  </div>`;
}

function Members({ id, now }) {
  const members = useLoad(async (signal) => {
    const out = [];
    let url = `/beta/industryData/runGroups/${encodeURIComponent(id)}/runs?$top=200&$expand=process($select=displayName)`;
    for (let page = 0; url && page < 5; page++) {
      const r = await api(url, { signal });
      out.push(...r.data.value);
      url = r.data['@odata.nextLink'];
    }
    return { runs: out, more: !!url };
  }, id);
  useLive(members.reload);
  let body;
  if (members.error) body = html`<${ErrorBox} error=${members.error} what="the members" />`;
  else if (members.loading) body = html`<${Loading} what="members" />`;
  else if (!members.data.runs.length) body = html`<${Empty}>This group has no member runs.</${Empty}>`;
  else
    body = html`<${RunsTable} runs=${members.data.runs} now=${now} caption="Member runs" />
      ${members.data.more ? html`<p class="muted">Showing the first ${members.data.runs.length}.</p>` : null}`;
  return html`<section class="panel" aria-labelledby="members-title">
    <h2 id="members-title">Member runs</h2>
    <${ErrorsCsv} id=${id} />
    ${body}
  </section>`;
}

export function RunView({ id }) {
  const now = useNow(1000);
  const run = useLoad(async (signal) => {
    const r = await api(`/beta/industryData/runs/${encodeURIComponent(id)}?$expand=process`, { signal });
    return { entity: r.data, etag: r.headers.get('ETag') };
  }, id);
  useLive(run.reload, null, (event) => event.id === id);
  if (run.error && !run.data) return html`<h1>Run</h1><${ErrorBox} error=${run.error} what="this run" />`;
  if (!run.data) return html`<h1>Run</h1><${Loading} what="the run" />`;
  const e = run.data.entity;
  const kind = kindOf(e);
  const p = e.process;
  const stats = { ...(e.statistics || {}) };
  const counts = stats.memberRuns;
  return html`
    <p class="crumbs"><a href="/runs">Runs</a> / ${e.displayName}</p>
    <h1 class="with-status">${e.displayName} <${Status} status=${e.status} /></h1>
    ${run.error ? html`<${ErrorBox} error=${run.error} what="the latest state" />` : null}
    <section class="panel" aria-labelledby="props-title">
      <h2 id="props-title">Properties</h2>
      <dl class="props">
        <dt>Status</dt><dd><${Status} status=${e.status} /></dd>
        <dt>Kind</dt><dd>${KIND_LABEL[kind] || kind} <span class="muted">(${kind})</span></dd>
        <dt>Name</dt><dd>${e.displayName}</dd>
        <dt>Id</dt><dd><code>${e.id}</code></dd>
        <dt>Start</dt><dd><${Time} value=${e.startDateTime} /></dd>
        <dt>End</dt><dd><${Time} value=${e.endDateTime} empty=${e.status === 'running' ? 'still running' : '—'} /></dd>
        <dt>Duration</dt><dd>${runDuration(e, now)}</dd>
        <dt>Process</dt><dd>${p
          ? html`<a href=${`/runs?process=${encodeURIComponent(p.id)}`}>${p.displayName}</a> <span class="muted">(${KIND_LABEL[kindOf(p)]}, ${p.readinessStatus}) <code>${p.id}</code></span>`
          : html`<span class="muted">${kind === 'runGroup' ? 'none (a group has no process)' : 'none'}</span>`}</dd>
        <dt>ETag</dt><dd><code>${run.data.etag || e['@odata.etag']}</code></dd>
      </dl>
    </section>
    ${kind === 'runGroup' ? html`<section class="panel" aria-labelledby="counts-title"><h2 id="counts-title">Members by status</h2><${MemberCounts} counts=${counts} /></section>` : null}
    <${BlockingError} error=${e.blockingError} />
    <${Statistics} statistics=${stats} />
    ${kind === 'runGroup' ? html`<${Members} id=${e.id} now=${now} />` : null}`;
}
