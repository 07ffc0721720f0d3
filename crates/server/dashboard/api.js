// The one way the dashboard talks to the service: the public /beta API, same origin, with the
// bearer token the user entered (kept in sessionStorage, never in a URL).

const TOKEN_KEY = 'runhub.token';

export const token = {
  get() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  },
  set(value) {
    const v = (value || '').trim().replace(/^Bearer\s+/i, '');
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    else sessionStorage.removeItem(TOKEN_KEY);
    window.dispatchEvent(new CustomEvent('runhub:token'));
  },
  // The token's claims, decoded for display only (the server is what checks them).
  claims() {
    const t = token.get();
    if (!t) return null;
    try {
      const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(
        Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
      );
      return JSON.parse(json);
    } catch {
      return {};
    }
  },
  // Whether the token grants one of these permissions (true without a token: the service decides).
  grants(...permissions) {
    const c = token.claims();
    if (!c) return true;
    const held = new Set([...String(c.scp || '').split(' '), ...(Array.isArray(c.roles) ? c.roles : [])]);
    return permissions.some((p) => held.has(p));
  },
};

export class ApiError extends Error {
  constructor(status, code, message, target, innerCode) {
    super(message);
    this.status = status;
    this.code = code;
    this.target = target;
    this.innerCode = innerCode;
  }
  // The error as a person should read it.
  get words() {
    switch (this.status) {
      case 0:
        return `The service cannot be reached (${this.message}).`;
      case 401:
        return `Sign-in needed: ${this.message}. Enter a bearer token with “Token” at the top of the page.`;
      case 403:
        return `Not allowed with this token: ${this.message}.`;
      default:
        return `${this.message}${this.target ? ` (${this.target})` : ''}`;
    }
  }
}

// A path of this origin for a URL the service sent (nextLink, Location): requests never leave it.
export function localPath(url) {
  const u = new URL(url, location.origin);
  return u.pathname + u.search;
}

export function authHeaders() {
  const t = token.get();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

// Calls the API; resolves to {status, data, headers} or throws ApiError with the service's message.
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json', ...authHeaders(), ...headers }, cache: 'no-store' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(localPath(path), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', String(e.message || e));
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    if (res.status === 401) window.dispatchEvent(new CustomEvent('runhub:unauthorized'));
    throw new ApiError(
      res.status,
      (err && err.code) || String(res.status),
      (err && err.message) || `the service answered ${res.status} ${res.statusText}`,
      err && err.target,
      err && err.innerError && err.innerError.code,
    );
  }
  return { status: res.status, data, headers: res.headers };
}

// A quoted OData string literal.
export function lit(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

export const NS = 'microsoft.graph.industryData.';

// A run's kind from its @odata.type.
export function kindOf(entity) {
  const t = (entity && entity['@odata.type']) || '';
  return t.slice(t.lastIndexOf('.') + 1);
}

export const KIND_LABEL = {
  incomingFlowRun: 'Incoming',
  outgoingFlowRun: 'Outgoing',
  runGroup: 'Group',
  incomingFlow: 'Incoming flow',
  outgoingFlow: 'Outgoing flow',
  inboundFlowActivity: 'Inbound',
  outboundFlowActivity: 'Outbound',
};
