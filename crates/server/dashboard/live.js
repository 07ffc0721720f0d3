// Live updates: the runs delta stream (server-sent events) read with fetch(), because EventSource
// cannot send an Authorization header. Events are parsed here; a dropped stream reconnects with
// Last-Event-ID so nothing is missed. When the stream cannot be had (an older service, a proxy
// that buffers), views are refreshed every 3 s instead and the stream is tried again later.

import { authHeaders } from './api.js';

const STREAM = '/beta/industryData/runs/delta';
export const POLL_MS = 3000;
const RETRY_STREAM_MS = 30000;

const listeners = new Set();
const statusListeners = new Set();
let mode = 'off'; // 'connecting' | 'live' | 'polling' | 'off'
let controller = null;
let lastEventId = null;
let pollTimer = null;
let retryTimer = null;
let generation = 0;

function emit(event) {
  for (const fn of [...listeners]) fn(event);
}

function setMode(m) {
  mode = m;
  for (const fn of [...statusListeners]) fn(m);
}

export function liveMode() {
  return mode;
}

export function onLiveMode(fn) {
  statusListeners.add(fn);
  fn(mode);
  return () => statusListeners.delete(fn);
}

// A hidden tab, or a page left for another (kept in the back/forward cache), holds no connection:
// browsers allow only six per server over HTTP/1.1, and a held stream would starve the others.
// Coming back reconnects from the last event seen and re-reads, so nothing is missed.
let paused = document.hidden;

function pause() {
  if (paused) return;
  paused = true;
  const had = listeners.size;
  stop();
  if (had) setMode('off');
}

function resume() {
  if (!paused) return;
  paused = false;
  if (listeners.size) {
    start();
    emit({ type: 'tick' });
  }
}

document.addEventListener('visibilitychange', () => (document.hidden ? pause() : resume()));
window.addEventListener('pagehide', pause);
window.addEventListener('pageshow', (e) => {
  if (e.persisted || !document.hidden) resume();
});

// fn receives {type: 'change', id, item} for each change, and {type: 'tick'} when it should re-read.
export function subscribe(fn) {
  listeners.add(fn);
  if (mode === 'off' && !paused) start();
  return () => {
    listeners.delete(fn);
    if (!listeners.size) stop();
  };
}

// Starts over (a new token: the old stream belongs to another caller).
export function restart() {
  stop();
  lastEventId = null;
  if (listeners.size && !paused) start();
}

function stop() {
  generation++;
  if (controller) controller.abort();
  controller = null;
  clearInterval(pollTimer);
  clearTimeout(retryTimer);
  pollTimer = retryTimer = null;
  setMode('off');
}

function start() {
  const gen = ++generation;
  connect(gen, 0);
}

function poll(gen) {
  if (gen !== generation) return;
  if (mode !== 'polling') setMode('polling');
  if (!pollTimer) pollTimer = setInterval(() => emit({ type: 'tick' }), POLL_MS);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => connect(gen, 0), RETRY_STREAM_MS);
}

async function connect(gen, attempt) {
  if (gen !== generation) return;
  if (mode !== 'polling') setMode('connecting');
  controller = new AbortController();
  const headers = { Accept: 'text/event-stream', ...authHeaders() };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  let res;
  try {
    res = await fetch(STREAM, { headers, signal: controller.signal, cache: 'no-store' });
  } catch (e) {
    if (gen === generation) poll(gen);
    return;
  }
  if (gen !== generation) return;
  const type = res.headers.get('content-type') || '';
  if (res.status === 410 || res.status === 400) {
    // The position is gone (or refused): start from now and let the views re-read everything.
    lastEventId = null;
    emit({ type: 'tick' });
  }
  if (!res.ok || !type.startsWith('text/event-stream') || !res.body) {
    try {
      await res.body?.cancel();
    } catch {}
    poll(gen);
    return;
  }
  clearInterval(pollTimer);
  clearTimeout(retryTimer);
  pollTimer = retryTimer = null;
  setMode('live');
  // The views re-read once: whatever happened while no stream was open is then on screen.
  if (attempt > 0 || lastEventId) emit({ type: 'tick' });
  const opened = Date.now();
  try {
    await read(res.body, gen);
  } catch {}
  // A stream that stayed open a while starts the back-off over.
  if (Date.now() - opened > 30000) attempt = 0;
  if (gen !== generation) return;
  setMode('connecting');
  // Until the stream is back, the views re-read as if there were none.
  if (!pollTimer) pollTimer = setInterval(() => emit({ type: 'tick' }), POLL_MS);
  const wait = Math.min(1000 * 2 ** attempt, 15000);
  retryTimer = setTimeout(() => connect(gen, attempt + 1), wait);
}

// The text/event-stream format: lines; a blank line ends an event; "field: value"; ":" comments.
async function read(body, gen) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { data: [], type: 'message', id: null };
  for (;;) {
    const { done, value } = await reader.read();
    if (gen !== generation) {
      reader.cancel().catch(() => {});
      return;
    }
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (event.id !== null) lastEventId = event.id;
        if (event.data.length && event.type === 'change') dispatch(event.data.join('\n'));
        event = { data: [], type: 'message', id: null };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') event.data.push(value);
      else if (field === 'event') event.type = value;
      else if (field === 'id' && !value.includes('\0')) event.id = value;
    }
  }
}

function dispatch(data) {
  let item;
  try {
    item = JSON.parse(data);
  } catch {
    return;
  }
  if (item && item.id) emit({ type: 'change', id: item.id, item });
}
