// The timeline: a Gantt chart of runs per process over a chosen range; running runs grow live.
import { html, useMemo, useEffect } from '../vendor/htm-preact.js';
import { api, kindOf } from '../api.js';
import { STATUSES, Status, statusInfo, absolute, runDuration, plural } from '../format.js';
import { useLoad, useLive, useNow, setParams, Loading, ErrorBox, Empty } from '../ui.js';

const HOUR = 3_600_000;
export const RANGES = [
  { id: '1h', label: '1 hour', ms: HOUR, tick: 10 * 60_000 },
  { id: '6h', label: '6 hours', ms: 6 * HOUR, tick: HOUR },
  { id: '24h', label: '24 hours', ms: 24 * HOUR, tick: 3 * HOUR },
  { id: '3d', label: '3 days', ms: 72 * HOUR, tick: 12 * HOUR },
  { id: '7d', label: '7 days', ms: 168 * HOUR, tick: 24 * HOUR },
];
const MAX_PAGES = 10; // 9,990 runs at most per range
const LANE = 14;
const LANE_GAP = 3;
const LABEL = 18;
const ROW_GAP = 10;

function overlapFilter(from, to) {
  return `startDateTime lt ${new Date(to).toISOString()} and (endDateTime eq null or endDateTime ge ${new Date(from).toISOString()})`;
}

// Rows: one per process (runGroups in one row of their own); overlapping runs take separate lanes.
function layout(runs, from, to, now) {
  const rows = new Map();
  for (const r of runs) {
    const kind = kindOf(r);
    const key = r.process ? r.process.id : kind === 'runGroup' ? '~groups' : '~none';
    const label = r.process ? r.process.displayName : kind === 'runGroup' ? 'Run groups' : 'No process';
    if (!rows.has(key)) rows.set(key, { key, label, runs: [] });
    rows.get(key).runs.push(r);
  }
  const span = to - from;
  const ordered = [...rows.values()].sort((a, b) => (a.key[0] === '~') - (b.key[0] === '~') || a.label.localeCompare(b.label));
  let y = 0;
  for (const row of ordered) {
    const laneEnds = [];
    row.bars = row.runs
      .map((r) => {
        const s = new Date(r.startDateTime).getTime();
        const e = r.endDateTime ? new Date(r.endDateTime).getTime() : Math.max(now, s);
        return { run: r, s, e };
      })
      .sort((a, b) => a.s - b.s)
      .map((b) => {
        let lane = laneEnds.findIndex((end) => end <= b.s);
        if (lane < 0) lane = laneEnds.push(0) - 1;
        laneEnds[lane] = Math.max(b.e, b.s + span / 400);
        const x = Math.max(0, ((b.s - from) / span) * 100);
        const x2 = Math.min(100, ((b.e - from) / span) * 100);
        return { ...b, lane, x, w: Math.max(0.25, x2 - x) };
      });
    row.y = y;
    row.lanes = Math.max(1, laneEnds.length);
    y += LABEL + row.lanes * (LANE + LANE_GAP) + ROW_GAP;
  }
  return { rows: ordered, height: y };
}

function ticks(from, to, step) {
  const out = [];
  const offset = new Date(from).getTimezoneOffset() * 60_000;
  let t = Math.ceil((from - offset) / step) * step + offset;
  for (; t <= to; t += step) out.push(t);
  return out;
}

function tickLabel(t, range) {
  const d = new Date(t);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (range.ms <= 24 * HOUR && !(d.getHours() === 0 && d.getMinutes() === 0)) return hm;
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + (range.ms > 72 * HOUR ? '' : ` ${hm}`);
}

function Chart({ runs, from, to, now, range, truncated }) {
  const { rows, height } = useMemo(() => layout(runs, from, to, now), [runs, from, to, Math.floor(now / 2000)]);
  useEffect(() => {
    // For measuring: when the first chart is on screen (docs/dashboard.md, Speed).
    if (!performance.getEntriesByName('runhub:timeline-shown').length) performance.mark('runhub:timeline-shown');
  }, [runs]);
  const top = 22;
  const total = top + height;
  const nowX = ((now - from) / (to - from)) * 100;
  return html`<figure class="gantt">
    <svg width="100%" height=${total} role="group" aria-label=${`Timeline of ${plural(runs.length, 'run')} from ${absolute(from)} to ${absolute(to)}`}>
      ${ticks(from, to, range.tick).map((t) => {
        const x = `${((t - from) / (to - from)) * 100}%`;
        return html`<g class="tick"><line x1=${x} x2=${x} y1=${top - 4} y2=${total} /><text x=${x} y="12" text-anchor="middle">${tickLabel(t, range)}</text></g>`;
      })}
      ${nowX >= 0 && nowX <= 100 ? html`<line class="now" x1=${`${nowX}%`} x2=${`${nowX}%`} y1="0" y2=${total}><title>now</title></line>` : null}
      ${rows.map(
        (row) => html`<g class="lane-row">
          <text class="row-label" x="4" y=${top + row.y + 13}>${row.label} <tspan class="muted">(${row.runs.length})</tspan></text>
          ${row.bars.map((b) => {
            const s = statusInfo(b.run.status);
            const label = `${b.run.displayName}: ${s.label}, ${absolute(b.run.startDateTime)}, ${runDuration(b.run, now)}`;
            return html`<a href=${`/runs/${encodeURIComponent(b.run.id)}`} aria-label=${label} class="bar-link">
              <rect class=${`bar s-${s.id}`} data-run=${b.run.id} x=${`${b.x}%`} y=${top + row.y + LABEL + b.lane * (LANE + LANE_GAP)} width=${`${b.w}%`} height=${LANE} rx="2"><title>${label}</title></rect>
            </a>`;
          })}
        </g>`,
      )}
    </svg>
    <figcaption>
      <ul class="legend" aria-label="Colors">${STATUSES.map((s) => html`<li><${Status} status=${s.id} /></li>`)}</ul>
      ${truncated ? html`<p class="muted">Only the first ${runs.length.toLocaleString('en')} runs of this range are drawn; choose a shorter range to see all.</p>` : null}
    </figcaption>
  </figure>`;
}

export function TimelineView({ params }) {
  const range = RANGES.find((r) => r.id === params.get('range')) || RANGES[2];
  const fixedEnd = params.get('end') ? new Date(params.get('end')).getTime() : null;
  const now = useNow(2000);
  const to = fixedEnd && !isNaN(fixedEnd) ? fixedEnd : now;
  const from = to - range.ms;
  const key = `${range.id}|${params.get('end') || 'now'}`;
  const data = useLoad(async (signal) => {
    const end = fixedEnd && !isNaN(fixedEnd) ? fixedEnd : Date.now();
    const q = new URLSearchParams({
      $top: '999',
      $select: 'id,displayName,status,startDateTime,endDateTime',
      $expand: 'process($select=displayName)',
      $filter: overlapFilter(end - range.ms, end),
      $orderby: 'startDateTime asc',
    });
    const runs = [];
    let url = `/beta/industryData/runs?${q}`;
    let pages = 0;
    for (; url && pages < MAX_PAGES; pages++) {
      const r = await api(url, { signal });
      runs.push(...r.data.value);
      url = r.data['@odata.nextLink'];
    }
    return { runs, truncated: !!url };
  }, key);
  useLive(data.reload);
  const i = RANGES.indexOf(range);
  const pan = (dir) => {
    const end = new Date(to + (dir * range.ms) / 2);
    setParams({ end: end.getTime() >= Date.now() ? '' : end.toISOString() }, { replace: false });
  };
  let body;
  if (data.error && !data.data) body = html`<${ErrorBox} error=${data.error} what="the timeline" />`;
  else if (!data.data) body = html`<${Loading} what="the timeline" />`;
  else if (!data.data.runs.length) body = html`<${Empty}>No runs between ${absolute(from)} and ${absolute(to)}.</${Empty}>`;
  else body = html`<${Chart} runs=${data.data.runs} from=${from} to=${to} now=${now} range=${range} truncated=${data.data.truncated} />`;
  return html`<h1>Timeline</h1>
    <div class="toolbar" role="group" aria-label="Time range">
      <div class="field">
        <label for="t-range">Range</label>
        <select id="t-range" value=${range.id} onChange=${(e) => setParams({ range: e.target.value === '24h' ? '' : e.target.value })}>
          ${RANGES.map((r) => html`<option value=${r.id}>Last ${r.label}</option>`)}
        </select>
      </div>
      <div class="buttons">
        <button type="button" onClick=${() => setParams({ range: RANGES[i - 1].id })} disabled=${i === 0}>Zoom in</button>
        <button type="button" onClick=${() => setParams({ range: RANGES[i + 1].id })} disabled=${i === RANGES.length - 1}>Zoom out</button>
        <button type="button" onClick=${() => pan(-1)}>Earlier</button>
        <button type="button" onClick=${() => pan(1)} disabled=${!fixedEnd}>Later</button>
        <button type="button" onClick=${() => setParams({ end: '' })} disabled=${!fixedEnd}>Now</button>
      </div>
      <p class="muted small range-text">${absolute(from)} → ${fixedEnd ? absolute(to) : 'now'}</p>
    </div>
    <section aria-busy=${data.loading ? 'true' : 'false'}>${body}</section>`;
}
