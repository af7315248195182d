import { useEffect, useState } from 'preact/hooks';

// Client routes live under /app so they never shadow the API's JSON routes of the same names
// (GET /experiments/:id answers JSON; /app/experiments/:id is its page).
export const BASE = '/app';

export interface Location {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  let path = location.pathname;
  if (path === '/' || path === BASE) path = '/';
  else if (path.startsWith(`${BASE}/`)) path = path.slice(BASE.length);
  return { path, query: new URLSearchParams(location.search) };
}

/** The href of a client route, e.g. href('/experiments/1') -> '/app/experiments/1'. */
export function href(path: string, query?: Record<string, string | number | undefined | null>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return `${path === '/' ? '/' : BASE + path}${s ? `?${s}` : ''}`;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  history[opts.replace ? 'replaceState' : 'pushState'](null, '', to);
  for (const l of listeners) l();
}

/** Re-renders on navigation; returns the route path (without /app) and the query. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return loc;
}

/** Matches `/experiments/:id` style patterns; returns the named parts or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) out[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return out;
}

/** Clicks on same-origin links become client navigations (modifier clicks still open tabs). */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest('a');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (!(a.pathname === '/' || a.pathname === BASE || a.pathname.startsWith(`${BASE}/`))) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
}
