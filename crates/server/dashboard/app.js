// The runhub dashboard: layout, navigation, the bearer token, and the views.
import { html, render, useState, useEffect } from './vendor/htm-preact.js';
import { token } from './api.js';
import { onLiveMode, restart, POLL_MS } from './live.js';
import { useLocation } from './ui.js';
import { RunsView } from './views/runs.js';
import { RunView } from './views/run.js';
import { ProcessesView } from './views/processes.js';
import { TimelineView } from './views/timeline.js';
import { PublishedView } from './views/published.js';

const NAV = [
  { path: '/runs', label: 'Runs' },
  { path: '/processes', label: 'Processes' },
  { path: '/timeline', label: 'Timeline' },
  { path: '/published', label: 'Published' },
];

function route(path) {
  let m;
  if (path === '/' || path === '/runs') return { view: RunsView, title: 'Runs', nav: '/runs' };
  if ((m = path.match(/^\/runs\/([^/]+)$/))) return { view: RunView, title: 'Run', nav: '/runs', id: decodeURIComponent(m[1]) };
  if (path === '/processes') return { view: ProcessesView, title: 'Processes', nav: '/processes' };
  if (path === '/timeline') return { view: TimelineView, title: 'Timeline', nav: '/timeline' };
  if (path === '/published') return { view: PublishedView, title: 'Published runs', nav: '/published' };
  return { view: NotFound, title: 'Not found' };
}

function NotFound() {
  return html`<h1>Nothing here</h1><p>This page does not exist. <a href="/runs">See the runs</a>.</p>`;
}

function LiveIndicator() {
  const [mode, setMode] = useState('off');
  useEffect(() => onLiveMode(setMode), []);
  const text = {
    live: 'Live',
    connecting: 'Connecting…',
    polling: `Refreshing every ${POLL_MS / 1000} s`,
    off: 'Not following',
  }[mode];
  return html`<span class="live live-${mode}" role="status" title="How this page follows changes"><span class="dot" aria-hidden="true"></span>${text}</span>`;
}

function TokenPanel({ onClose }) {
  const [value, setValue] = useState('');
  const submit = (e) => {
    e.preventDefault();
    token.set(value);
    onClose();
  };
  const claims = token.claims();
  return html`<section class="token-panel" aria-labelledby="token-title">
    <h2 id="token-title">Bearer token</h2>
    <p>This service checks who is calling. Paste a bearer token for it (an operator can mint one with${' '}<code>runhub token --tenant NAME</code>). It is kept in this tab only, for this session.</p>
    ${claims ? html`<p>Using a token for tenant <strong>${claims.tid || '?'}</strong>${claims.exp ? html`, valid until ${new Date(claims.exp * 1000).toLocaleString()}` : null}.</p>` : null}
    <form onSubmit=${submit}>
      <label for="token-input">Token</label>
      <input id="token-input" type="password" autocomplete="off" spellcheck="false" value=${value} onInput=${(e) => setValue(e.target.value)} />
      <div class="row">
        <button type="submit" class="primary">Use this token</button>
        ${claims ? html`<button type="button" onClick=${() => { token.set(''); onClose(); }}>Forget the token</button>` : null}
        <button type="button" onClick=${onClose}>Close</button>
      </div>
    </form>
  </section>`;
}

function App() {
  const loc = useLocation();
  const r = route(loc.path);
  const [auth, setAuth] = useState(0);
  const [askToken, setAskToken] = useState(false);
  useEffect(() => {
    const changed = () => {
      setAuth((n) => n + 1);
      restart();
    };
    const unauthorized = () => setAskToken(true);
    window.addEventListener('runhub:token', changed);
    window.addEventListener('runhub:unauthorized', unauthorized);
    return () => {
      window.removeEventListener('runhub:token', changed);
      window.removeEventListener('runhub:unauthorized', unauthorized);
    };
  }, []);
  useEffect(() => {
    document.title = `${r.title} · runhub`;
  }, [r.title]);
  const claims = token.claims();
  const View = r.view;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="/runs">runhub</a>
      <nav aria-label="Views">
        ${NAV.map((n) => html`<a href=${n.path} aria-current=${r.nav === n.path ? 'page' : undefined}>${n.label}</a>`)}
      </nav>
      <div class="top-right">
        <${LiveIndicator} />
        <button type="button" class="token-button" aria-expanded=${askToken} onClick=${() => setAskToken(!askToken)}>
          ${claims ? `Token: ${claims.tid || 'set'}` : 'Token'}
        </button>
      </div>
    </header>
    ${askToken ? html`<${TokenPanel} onClose=${() => setAskToken(false)} />` : null}
    <main id="main" tabindex="-1">
      <${View} key=${`${loc.path}#${auth}`} id=${r.id} params=${loc.params} />
    </main>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
