// The processes: readiness, recurrence window, last run, recent statuses, Run now.
import { html, useState } from '../vendor/htm-preact.js';
import { api, kindOf, KIND_LABEL, token, localPath } from '../api.js';
import { Status, Time, statusInfo, absolute, relative } from '../format.js';
import { useLoad, useLive, Loading, ErrorBox, Empty } from '../ui.js';

const HISTORY = 10;
const EXPAND = `runs($top=${HISTORY};$orderby=startDateTime desc;$select=displayName,status,startDateTime,endDateTime)`;
const START_PERMISSIONS = ['IndustryData-Run.Start', 'IndustryData-Run.ReadWrite.All'];

function windowState(p, now) {
  const from = p.recurrenceEffectiveDateTime;
  const to = p.recurrenceExpirationDateTime;
  if (!from && !to) return { text: 'Always', inside: true };
  const inside = (!from || new Date(from) <= now) && (!to || new Date(to) > now);
  const range = `${from ? absolute(from) : 'any time'} → ${to ? absolute(to) : 'no end'}`;
  const where = inside ? 'open now' : from && new Date(from) > now ? `opens ${relative(from)}` : `closed ${relative(to)}`;
  return { text: range, note: where, inside };
}

function History({ runs }) {
  if (!runs.length) return html`<span class="muted">No runs yet</span>`;
  const oldestFirst = [...runs].reverse();
  return html`<ol class="history" aria-label=${`Last ${runs.length} runs, oldest first`}>
    ${oldestFirst.map((r) => {
      const s = statusInfo(r.status);
      return html`<li><a href=${`/runs/${encodeURIComponent(r.id)}`} class=${`chip s-${s.id}`} title=${`${r.displayName}: ${s.label}, started ${absolute(r.startDateTime)}`}>
        <span aria-hidden="true">${s.icon}</span><span class="sr-only">${r.displayName}: ${s.label}, started ${absolute(r.startDateTime)}</span></a></li>`;
    })}
  </ol>`;
}

function RunNow({ flow, onStarted }) {
  const [state, setState] = useState({});
  if (kindOf(flow) !== 'incomingFlow') return html`<span class="muted small">Outgoing flows are not started from here</span>`;
  if (!token.grants(...START_PERMISSIONS))
    return html`<span class="muted small">Your token cannot start runs (it needs IndustryData-Run.Start)</span>`;
  const start = async () => {
    setState({ busy: true });
    try {
      const r = await api(`/beta/industryData/incomingFlows/${encodeURIComponent(flow.id)}/runNow`, { method: 'POST' });
      const where = r.headers.get('Location');
      setState({ started: where ? localPath(where).split('/').pop() : null });
      onStarted();
    } catch (error) {
      setState({ error });
    }
  };
  return html`<div class="run-now">
    <button type="button" class="primary" onClick=${start} disabled=${state.busy} aria-label=${`Run ${flow.displayName} now`}>${state.busy ? 'Starting…' : 'Run now'}</button>
    ${state.started ? html`<p role="status" class="small">Started: <a href=${`/runs/${state.started}`}>see the run</a></p>` : null}
    ${state.error ? html`<p role="alert" class="small error-text">${state.error.words}</p>` : null}
  </div>`;
}

function ProcessCard({ p, now, reload }) {
  const runs = p.runs || [];
  const last = runs[0];
  const kind = kindOf(p);
  const w = kind === 'incomingFlow' ? windowState(p, now) : null;
  return html`<article class="process" aria-labelledby=${`p-${p.id}`}>
    <header>
      <h2 id=${`p-${p.id}`}><a href=${`/runs?process=${encodeURIComponent(p.id)}`}>${p.displayName}</a></h2>
      <span class="muted small">${KIND_LABEL[kind]}</span>
    </header>
    <dl class="props compact">
      <dt>Readiness</dt><dd><span class=${`readiness r-${p.readinessStatus}`}>${p.readinessStatus}</span></dd>
      ${w ? html`<dt>Window</dt><dd>${w.text}${w.note ? html` <span class="muted">(${w.note})</span>` : null}</dd>` : null}
      <dt>Last run</dt><dd>${last ? html`<${Status} status=${last.status} /> <a href=${`/runs/${encodeURIComponent(last.id)}`}>${last.displayName}</a> · <${Time} value=${last.startDateTime} />` : html`<span class="muted">never</span>`}</dd>
      <dt>Recent</dt><dd><${History} runs=${runs} /></dd>
    </dl>
    <${RunNow} flow=${p} onStarted=${reload} />
  </article>`;
}

export function ProcessesView() {
  const list = useLoad(async (signal) => {
    const sets = await Promise.all(
      ['incomingFlows', 'outgoingFlows'].map(async (set) => {
        const out = [];
        let url = `/beta/industryData/${set}?$top=200&$expand=${encodeURIComponent(EXPAND)}`;
        for (let page = 0; url && page < 10; page++) {
          const r = await api(url, { signal });
          out.push(...r.data.value);
          url = r.data['@odata.nextLink'];
        }
        return out;
      }),
    );
    return sets.flat().sort((a, b) => a.displayName.localeCompare(b.displayName));
  }, 'processes');
  useLive(list.reload);
  const now = new Date();
  let body;
  if (list.error && !list.data) body = html`<${ErrorBox} error=${list.error} what="the processes" />`;
  else if (!list.data) body = html`<${Loading} what="processes" />`;
  else if (!list.data.length) body = html`<${Empty}>No processes yet. Create an incomingFlow or outgoingFlow through the API to see it here.</${Empty}>`;
  else body = html`<div class="cards">${list.data.map((p) => html`<${ProcessCard} key=${p.id} p=${p} now=${now} reload=${list.reload} />`)}</div>`;
  return html`<h1>Processes</h1>${body}`;
}
