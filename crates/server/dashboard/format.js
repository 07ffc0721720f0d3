// Times, durations and the status palette: one look for every view.
import { html } from './vendor/htm-preact.js';

// Okabe–Ito colors (distinguishable with the common color-vision deficiencies); every status is
// also shown by its icon and its name, never by color alone.
export const STATUSES = [
  { id: 'running', label: 'Running', icon: '▶' },
  { id: 'failed', label: 'Failed', icon: '✕' },
  { id: 'completed', label: 'Completed', icon: '✓' },
  { id: 'completedWithErrors', label: 'Completed with errors', icon: '◆' },
  { id: 'completedWithWarnings', label: 'Completed with warnings', icon: '▲' },
];
const BY_ID = Object.fromEntries(STATUSES.map((s) => [s.id, s]));
BY_ID.inProgress = { id: 'running', label: 'In progress', icon: '▶' };
BY_ID.skipped = { id: 'unknown', label: 'Skipped', icon: '–' };

export function statusInfo(status) {
  return BY_ID[status] || { id: 'unknown', label: String(status || 'unknown'), icon: '?' };
}

export function Status({ status }) {
  const s = statusInfo(status);
  return html`<span class="status s-${s.id}"><span class="icon" aria-hidden="true">${s.icon}</span>${s.label}</span>`;
}

const pad = (n) => String(n).padStart(2, '0');

// Local time, to the second: 2026-12-06 07:12:03.
export function absolute(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function relative(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  const a = Math.abs(ms);
  if (a < 10_000) return 'just now';
  const units = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  const [size, unit] = units.find(([size]) => a >= size);
  const n = Math.floor(a / size);
  return ms < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

export function duration(ms) {
  if (ms == null || isNaN(ms) || ms < 0) return '—';
  if (ms < 1000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function runDuration(run, now = Date.now()) {
  if (!run.startDateTime) return '—';
  const end = run.endDateTime ? new Date(run.endDateTime).getTime() : now;
  const text = duration(end - new Date(run.startDateTime).getTime());
  return run.endDateTime ? text : `${text} so far`;
}

// An absolute time with the relative one beside it; the UTC value on hover.
export function Time({ value, empty = '—' }) {
  if (!value) return html`<span class="muted">${empty}</span>`;
  return html`<time datetime=${value} title=${`${value} (UTC)`}>${absolute(value)} <span class="rel">${relative(value)}</span></time>`;
}

export function plural(n, one, many = one + 's') {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}
