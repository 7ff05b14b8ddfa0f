// The REST client: JSON in and out, the bearer token when one is kept, and 401 turned into a sign-in.

const TOKEN_KEY = 'jobpulse.token';

/** Fires 'signin-required' whenever the API answers 401. */
export const session = new EventTarget();

export class AuthRequired extends Error {
  constructor() {
    super('sign-in required');
    this.name = 'AuthRequired';
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
  }
}

// sessionStorage: the token lives as long as the tab, and is never written to disk by us.
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A same-origin URL with query parameters; arrays repeat the parameter, empty values are left out. */
export function apiUrl(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined || item === '') continue;
      url.searchParams.append(key, String(item));
    }
  }
  return url;
}

function headers(token, extra = {}) {
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function failure(response) {
  let detail = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.detail === 'string') detail = body.detail;
  } catch {
    // Not JSON: the status text says enough.
  }
  return new ApiError(response.status, detail);
}

/**
 * One request. `token` overrides the kept token (to check a new one); with `silent`, a 401 is only
 * thrown, not announced.
 */
export async function request(method, path, { params, body, token, signal, silent = false } = {}) {
  const init = {
    method,
    headers: headers(token ?? getToken(), { accept: 'application/json' }),
    cache: 'no-store',
    signal,
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(apiUrl(path, params), init);
  if (response.status === 401) {
    if (!silent) session.dispatchEvent(new Event('signin-required'));
    throw new AuthRequired();
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path, params, options) => request('GET', path, { ...options, params });
export const post = (path, body, options) => request('POST', path, { ...options, body });
export const del = (path, options) => request('DELETE', path, options);

/** Save the answer of a GET under `filename`: a plain link cannot send the token. */
export async function download(path, params, filename) {
  const response = await fetch(apiUrl(path, params), { headers: headers(getToken()), cache: 'no-store' });
  if (response.status === 401) {
    session.dispatchEvent(new Event('signin-required'));
    throw new AuthRequired();
  }
  if (!response.ok) throw await failure(response);
  const href = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = href;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started once click() returns; the blob may go with the next task.
  setTimeout(() => URL.revokeObjectURL(href), 0);
}
