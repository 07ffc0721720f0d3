// The runs: a filtered, sorted, paged table that follows changes live.
import { html, useState, useEffect, useRef } from '../vendor/htm-preact.js';
import { api, lit, kindOf, KIND_LABEL, NS } from '../api.js';
import { STATUSES, Status, Time, runDuration, plural } from '../format.js';
import { useLoad, useLive, useNow, setParams, Loading, ErrorBox, Empty } from '../ui.js';

const PAGE = 50;
const SELECT = 'id,displayName,status,startDateTime,endDateTime';
const KINDS = ['incomingFlowRun', 'outgoingFlowRun', 'runGroup'];
const SORTABLE = { status: 'Status', displayName: 'Name', startDateTime: 'Start', endDateTime: 'End' };

// A datetime-local value (local time) as an OData literal; anything else is passed on as typed,
// so the service says what is wrong with it.
function timeLiteral(v) {
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v)) {
    const d = new Date(v);
    if (!isNaN(d)) return d.toISOString();
  }
  return v;
}

// The $filter for the URL's filters; values are sent as given (a bad one gets the service's message).
export function runsFilter(p) {
  const parts = [];
  if (p.get('status')) parts.push(`status eq ${lit(p.get('status'))}`);
  if (p.get('kind')) parts.push(`isof(${lit(NS + p.get('kind'))})`);
  if (p.get('process')) parts.push(`process/id eq ${lit(p.get('process'))}`);
  if (p.get('from')) parts.push(`startDateTime ge ${timeLiteral(p.get('from'))}`);
  if (p.get('to')) parts.push(`startDateTime le ${timeLiteral(p.get('to'))}`);
  if (p.get('name')) parts.push(`contains(tolower(displayName),${lit(p.get('name').toLowerCase())})`);
  return parts.join(' and ');
}

function query(p, top) {
  const q = new URLSearchParams();
  q.set('$top', String(top));
  q.set('$select', SELECT);
  q.set('$expand', 'process($select=displayName)');
  const filter = runsFilter(p);
  if (filter) q.set('$filter', filter);
  q.set('$orderby', p.get('sort') || 'startDateTime desc');
  return q;
}

function useProcesses() {
  const [list, setList] = useState([]);
  useEffect(() => {
    const ctrl = new AbortController();
    Promise.all(
      ['incomingFlows', 'outgoingFlows'].map((set) =>
        api(`/beta/industryData/${set}?$select=displayName&$top=999`, { signal: ctrl.signal }).then(
          (r) => r.data.value,
          () => [],
        ),
      ),
    ).then(([a, b]) => ctrl.signal.aborted || setList([...a, ...b].sort((x, y) => x.displayName.localeCompare(y.displayName))));
    return () => ctrl.abort();
  }, []);
  return list;
}

function Filters({ params }) {
  const processes = useProcesses();
  const [name, setName] = useState(params.get('name') || '');
  const timer = useRef(null);
  const input = useRef(null);
  const wanted = params.get('name') || '';
  useEffect(() => {
    if (document.activeElement !== input.current) setName(wanted);
  }, [wanted]);
  const onName = (e) => {
    setName(e.target.value);
    clearTimeout(timer.current);
    const v = e.target.value;
    timer.current = setTimeout(() => setParams({ name: v }), 300);
  };
  const sel = (key) => (e) => setParams({ [key]: e.target.value });
  const any = ['status', 'kind', 'process', 'from', 'to', 'name'].some((k) => params.get(k));
  const process = params.get('process') || '';
  return html`<form class="filters" role="search" aria-label="Filter runs" onSubmit=${(e) => e.preventDefault()}>
    <div class="field">
      <label for="f-status">Status</label>
      <select id="f-status" value=${params.get('status') || ''} onChange=${sel('status')}>
        <option value="">Any status</option>
        ${STATUSES.map((s) => html`<option value=${s.id}>${s.label}</option>`)}
        ${params.get('status') && !STATUSES.some((s) => s.id === params.get('status')) ? html`<option value=${params.get('status')}>${params.get('status')}</option>` : null}
      </select>
    </div>
    <div class="field">
      <label for="f-kind">Kind</label>
      <select id="f-kind" value=${params.get('kind') || ''} onChange=${sel('kind')}>
        <option value="">Any kind</option>
        ${KINDS.map((k) => html`<option value=${k}>${KIND_LABEL[k]}</option>`)}
        ${params.get('kind') && !KINDS.includes(params.get('kind')) ? html`<option value=${params.get('kind')}>${params.get('kind')}</option>` : null}
      </select>
    </div>
    <div class="field">
      <label for="f-process">Process</label>
      <select id="f-process" value=${process} onChange=${sel('process')}>
        <option value="">Any process</option>
        ${processes.map((p) => html`<option value=${p.id}>${p.displayName} (${KIND_LABEL[kindOf(p)]})</option>`)}
        ${process && !processes.some((p) => p.id === process) ? html`<option value=${process}>${process}</option>` : null}
      </select>
    </div>
    <div class="field">
      <label for="f-from">Started from</label>
      <input id="f-from" type="datetime-local" step="1" value=${params.get('from') || ''} onChange=${sel('from')} />
    </div>
    <div class="field">
      <label for="f-to">Started until</label>
      <input id="f-to" type="datetime-local" step="1" value=${params.get('to') || ''} onChange=${sel('to')} />
    </div>
    <div class="field grow">
      <label for="f-name">Name contains</label>
      <input id="f-name" ref=${input} type="search" value=${name} onInput=${onName} placeholder="e.g. nightly" />
    </div>
    <div class="field actions">
      <button type="button" disabled=${!any} onClick=${() => { setName(''); setParams({ status: '', kind: '', process: '', from: '', to: '', name: '' }); }}>Clear filters</button>
    </div>
  </form>`;
}

function SortHeader({ field, sort }) {
  const [key, dir] = (sort || 'startDateTime desc').split(' ');
  const active = key === field;
  const next = active && dir !== 'desc' ? 'desc' : active ? 'asc' : field.endsWith('DateTime') ? 'desc' : 'asc';
  const ariaSort = active ? (dir === 'desc' ? 'descending' : 'ascending') : undefined;
  return html`<th scope="col" aria-sort=${ariaSort}>
    <button type="button" class="sort" onClick=${() => setParams({ sort: `${field} ${next}` === 'startDateTime desc' ? '' : `${field} ${next}` })}>
      ${SORTABLE[field]}<span class="arrow" aria-hidden="true">${active ? (dir === 'desc' ? ' ↓' : ' ↑') : ' ↕'}</span>
    </button>
  </th>`;
}

export function RunRow({ run, now, fresh }) {
  const kind = kindOf(run);
  const p = run.process;
  return html`<tr class=${fresh ? 'fresh' : ''} data-id=${run.id}>
    <td data-label="Status"><${Status} status=${run.status} /></td>
    <td data-label="Kind">${KIND_LABEL[kind] || kind}</td>
    <td data-label="Name" class="name"><a href=${`/runs/${encodeURIComponent(run.id)}`}>${run.displayName}</a></td>
    <td data-label="Process">${p ? html`<a href=${`/runs?process=${encodeURIComponent(p.id)}`} title="Runs of this process">${p.displayName}</a>` : html`<span class="muted">—</span>`}</td>
    <td data-label="Start"><${Time} value=${run.startDateTime} /></td>
    <td data-label="End"><${Time} value=${run.endDateTime} empty=${run.status === 'running' ? 'running' : '—'} /></td>
    <td data-label="Duration" class="num">${runDuration(run, now)}</td>
  </tr>`;
}

export function RunsTable({ runs, now, fresh, sort, caption }) {
  const sortable = sort !== undefined;
  const head = (field, label) => (sortable && SORTABLE[field] ? html`<${SortHeader} field=${field} sort=${sort} />` : html`<th scope="col">${label}</th>`);
  return html`<table class="runs">
    <caption class="sr-only">${caption}</caption>
    <thead><tr>
      ${head('status', 'Status')}<th scope="col">Kind</th>${head('displayName', 'Name')}<th scope="col">Process</th>
      ${head('startDateTime', 'Start')}${head('endDateTime', 'End')}<th scope="col" class="num">Duration</th>
    </tr></thead>
    <tbody>${runs.map((r) => html`<${RunRow} key=${r.id} run=${r} now=${now} fresh=${fresh && fresh.has(r.id)} />`)}</tbody>
  </table>`;
}

export function RunsView({ params }) {
  const key = params.toString();
  const loaded = useRef(PAGE);
  const [rows, setRows] = useState(null);
  const [next, setNext] = useState(null);
  const [more, setMore] = useState({ busy: false, error: null });
  const [count, setCount] = useState(null);
  const [fresh, setFresh] = useState(new Set());
  const known = useRef(null);
  const counted = useRef(null);
  const now = useNow(1000);

  const load = useLoad(async (signal) => {
    const top = Math.min(999, Math.max(PAGE, loaded.current));
    const q = query(params, top);
    const r = await api(`/beta/industryData/runs?${q}`, { signal });
    // The total is asked for after the rows, once per query: counting a large store must not delay them.
    if (counted.current !== key) {
      counted.current = key;
      api(`/beta/industryData/runs/$count?${q.has('$filter') ? `$filter=${encodeURIComponent(q.get('$filter'))}` : ''}`, { signal })
        .then((c) => !signal.aborted && setCount(Number(c.data)))
        .catch(() => {
          counted.current = null;
        });
    }
    return r.data;
  }, key);

  useEffect(() => {
    loaded.current = PAGE;
    known.current = null;
    setCount(null);
  }, [key]);

  useEffect(() => {
    if (!load.data) return;
    const value = load.data.value;
    const before = known.current;
    setFresh(before ? new Set(value.filter((r) => !before.has(r.id)).map((r) => r.id)) : new Set());
    known.current = new Set(value.map((r) => r.id));
    setRows(value);
    setNext(load.data['@odata.nextLink'] || null);
  }, [load.data]);

  useLive(load.reload, ({ id, item }) => {
    setRows((rs) => {
      if (!rs || !rs.some((r) => r.id === id)) return rs;
      if (item['@removed']) return rs.filter((r) => r.id !== id);
      return rs.map((r) => (r.id === id ? { ...r, ...pick(item), process: r.process } : r));
    });
  });

  const showMore = async () => {
    setMore({ busy: true, error: null });
    try {
      const r = await api(next);
      setRows((rs) => [...rs, ...r.data.value.filter((x) => !rs.some((y) => y.id === x.id))]);
      for (const x of r.data.value) known.current && known.current.add(x.id);
      loaded.current += r.data.value.length;
      setNext(r.data['@odata.nextLink'] || null);
      setMore({ busy: false, error: null });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  useEffect(() => {
    // For measuring: when the first rows are on screen (docs/dashboard.md, Speed).
    if (rows && !performance.getEntriesByName('runhub:runs-shown').length) performance.mark('runhub:runs-shown');
  }, [rows]);

  const filtered = !!runsFilter(params);
  let body;
  if (load.error && !load.loading) body = html`<${ErrorBox} error=${load.error} what="the runs" />`;
  else if (!rows) body = html`<${Loading} what="runs" />`;
  else if (!rows.length && !load.loading)
    body = html`<${Empty}>${filtered ? 'No runs match these filters.' : 'No runs yet. Runs appear here as soon as a client records one.'}</${Empty}>`;
  else
    body = html`
      ${load.loading ? html`<${Loading} what="runs for these filters" />` : null}
      <${RunsTable} runs=${rows} now=${now} fresh=${fresh} sort=${params.get('sort') || 'startDateTime desc'} caption="Runs" />
      <div class="pager">
        <span class="muted" role="status">Showing ${plural(rows.length, 'run')}${count != null ? ` of ${count.toLocaleString('en')}` : ''}</span>
        ${next ? html`<button type="button" onClick=${showMore} disabled=${more.busy}>${more.busy ? 'Loading…' : `Show ${PAGE} more`}</button>` : null}
      </div>
      ${more.error ? html`<${ErrorBox} error=${more.error} what="more runs" />` : null}`;
  return html`<h1>Runs</h1>
    <${Filters} params=${params} />
    <section aria-label="Runs" aria-busy=${load.loading ? 'true' : 'false'}>${body}</section>`;
}

function pick(item) {
  const out = {};
  for (const k of ['displayName', 'status', 'startDateTime', 'endDateTime']) if (k in item) out[k] = item[k];
  return out;
}
