// Hash routes, so the console needs no server-side routing and every view, filters included, has a
// URL that can be shared: #/active?status=running&type=csv_import, #/job/ID, #/history?..., ...

/** The route of `hash`, or null for an in-page anchor such as the skip link's. */
export function parseRoute(hash = window.location.hash) {
  if (hash === '' || hash === '#' || hash === '#/') return { view: 'active', args: [], params: new URLSearchParams() };
  if (!hash.startsWith('#/')) return null;
  const body = hash.slice(2);
  const mark = body.indexOf('?');
  const path = mark === -1 ? body : body.slice(0, mark);
  const query = mark === -1 ? '' : body.slice(mark + 1);
  const [view = 'active', ...args] = path.split('/').map((part) => decodeURIComponent(part));
  return { view: view || 'active', args, params: new URLSearchParams(query) };
}

/** The hash of a route; `params` maps names to a value or a list of values (empty ones are left out). */
export function routeHref(view, args = [], params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== '') query.append(key, String(item));
    }
  }
  const path = [view, ...args].map((part) => encodeURIComponent(part)).join('/');
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/** Put the view's current filters in the address without adding a history entry or re-rendering. */
export function keepParams(view, args, params) {
  const target = routeHref(view, args, params);
  if (window.location.hash !== target) window.history.replaceState(null, '', target);
}

/** Go to a route (a new history entry; the view re-renders on hashchange). */
export function navigate(view, args, params) {
  window.location.hash = routeHref(view, args, params);
}
