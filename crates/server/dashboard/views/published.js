// The published view: what Microsoft Graph clients see at /beta/external/industryData/runs —
// each industryDataRun (a runGroup) with its activities (the member runs).
import { html, useState, useEffect } from '../vendor/htm-preact.js';
import { api, kindOf, KIND_LABEL } from '../api.js';
import { Status, Time, runDuration, plural } from '../format.js';
import { useLoad, useLive, useNow, Loading, ErrorBox, Empty } from '../ui.js';

const BASE = '/beta/external/industryData/runs';

function Activities({ run }) {
  const acts = run.activities || [];
  if (!acts.length) return html`<p class="muted small">No activities.</p>`;
  return html`<ul class="activities">
    ${acts.map(
      (a) => html`<li>
        <${Status} status=${a.status} />
        <span class="muted small">${KIND_LABEL[kindOf(a)] || kindOf(a)}</span>
        <a href=${`/runs/${encodeURIComponent(a.id)}`}>${a.displayName}</a>
        ${a.blockingError ? html`<p class="error-text small">${a.blockingError.code ? html`<strong>${a.blockingError.code}</strong>: ` : null}${a.blockingError.message}</p>` : null}
      </li>`,
    )}
  </ul>`;
}

export function PublishedView() {
  const now = useNow(1000);
  const [rows, setRows] = useState(null);
  const [next, setNext] = useState(null);
  const [moreError, setMoreError] = useState(null);
  const list = useLoad(async (signal) => (await api(`${BASE}?$top=25&$expand=activities`, { signal })).data, 'published');
  useLive(list.reload);
  useEffect(() => {
    if (!list.data) return;
    setRows(list.data.value);
    setNext(list.data['@odata.nextLink'] || null);
  }, [list.data]);
  const more = async () => {
    try {
      const r = await api(next);
      setRows((rs) => [...rs, ...r.data.value.filter((x) => !rs.some((y) => y.id === x.id))]);
      setNext(r.data['@odata.nextLink'] || null);
    } catch (e) {
      setMoreError(e);
    }
  };
  let body;
  if (list.error && !rows) body = html`<${ErrorBox} error=${list.error} what="the published runs" />`;
  else if (!rows) body = html`<${Loading} what="published runs" />`;
  else if (!rows.length) body = html`<${Empty}>No published runs: Graph clients see one industryDataRun per run group.</${Empty}>`;
  else
    body = html`<ol class="published">
        ${rows.map(
          (r) => html`<li class="panel">
            <header class="pub-head">
              <${Status} status=${r.status} />
              <h2><a href=${`/runs/${encodeURIComponent(r.id)}`}>${r.displayName}</a></h2>
            </header>
            <p class="small"><${Time} value=${r.startDateTime} /> · ${runDuration(r, now)} · ${plural((r.activities || []).length, 'activity', 'activities')}</p>
            ${r.blockingError ? html`<p class="error-text small"><strong>${r.blockingError.code}</strong>: ${r.blockingError.message}</p>` : null}
            <${Activities} run=${r} />
          </li>`,
        )}
      </ol>
      ${next ? html`<div class="pager"><button type="button" onClick=${more}>Show more</button></div>` : null}
      ${moreError ? html`<${ErrorBox} error=${moreError} what="more runs" />` : null}`;
  return html`<h1>Published runs</h1>
    <p class="lead">What Microsoft Graph clients read at <code>${BASE}</code>: one industryData run per run group, its activities being the member runs.</p>
    ${body}`;
}
