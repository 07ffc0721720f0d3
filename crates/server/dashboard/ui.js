// Small shared pieces: the router, loading/error/empty states, live refresh.
import { html, useState, useEffect, useRef, useCallback } from './vendor/htm-preact.js';
import { subscribe } from './live.js';

// --- routing: the URL (path and query) is the state of a view ---------------------------------
const routeListeners = new Set();

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const fn of [...routeListeners]) fn();
  if (!replace) window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  for (const fn of [...routeListeners]) fn();
});

// Same-origin links are handled here, without a page load (SVG links too).
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a');
  if (!a || a.hasAttribute('download') || a.getAttribute('target')) return;
  const href = a.getAttribute('href');
  if (!href || href.startsWith('#')) return;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/beta') || url.pathname.startsWith('/ui/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

export function useLocation() {
  const [, set] = useState(0);
  useEffect(() => {
    const fn = () => set((n) => n + 1);
    routeListeners.add(fn);
    return () => routeListeners.delete(fn);
  }, []);
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

// Replaces some query parameters of the current URL (empty values are dropped).
export function setParams(changes, { replace = true } = {}) {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') params.delete(k);
    else params.set(k, v);
  }
  const q = params.toString();
  navigate(location.pathname + (q ? `?${q}` : ''), { replace });
}

// --- data ---------------------------------------------------------------------------------------
// Loads with `load(signal)` whenever `key` changes; `reload()` re-reads in the background (the
// old data stays on screen until the new arrives).
export function useLoad(load, key) {
  const [state, setState] = useState({ key, loading: true, error: null, data: null });
  const current = useRef(null);
  const run = useCallback(
    (background) => {
      if (current.current) current.current.abort();
      const ctrl = new AbortController();
      current.current = ctrl;
      if (!background) setState({ key, loading: true, error: null, data: null });
      load(ctrl.signal).then(
        (data) => ctrl.signal.aborted || setState({ key, loading: false, error: null, data }),
        (error) =>
          ctrl.signal.aborted || error.name === 'AbortError' || setState((s) => ({ key, loading: false, error, data: background ? s.data : null })),
      );
    },
    [key],
  );
  useEffect(() => {
    run(false);
    return () => current.current && current.current.abort();
  }, [run]);
  // Until the effect for a new key has run, the state is the previous key's: say it is loading.
  const stale = state.key !== key;
  return { ...state, loading: state.loading || stale, reload: () => run(true) };
}

// Calls onChange(event) for live changes, and re-reads (at most every 500 ms) on each tick and on
// each change that `relevant` accepts (every change by default).
export function useLive(reload, onChange, relevant) {
  const latest = useRef({ reload, onChange, relevant });
  latest.current = { reload, onChange, relevant };
  useEffect(() => {
    let timer = null;
    const later = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        latest.current.reload();
      }, 500);
    };
    const off = subscribe((event) => {
      if (event.type === 'change') {
        if (latest.current.onChange) latest.current.onChange(event);
        if (latest.current.relevant && !latest.current.relevant(event)) return;
      }
      later();
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }, []);
}

// Re-renders every `ms` (relative times, running durations).
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

// --- states in words ----------------------------------------------------------------------------
export function Loading({ what }) {
  return html`<p class="state loading" role="status" aria-live="polite"><span class="spinner" aria-hidden="true"></span>Loading ${what}…</p>`;
}

export function ErrorBox({ error, what }) {
  const words = error && error.words ? error.words : String((error && error.message) || error);
  return html`<div class="state error" role="alert">
    <strong>Could not load ${what}.</strong>
    <p class="message">${words}</p>
    ${error && error.code && error.status ? html`<p class="muted small">HTTP ${error.status} · ${error.innerCode || error.code}</p>` : null}
  </div>`;
}

export function Empty({ children }) {
  return html`<p class="state empty" role="status">${children}</p>`;
}
