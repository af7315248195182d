import { CSRF_HEADER, PROJECT_HEADER, session, askToSignIn } from './session.ts';

/** One bad field, as the API names it (`body/epochs`, `body/grid/lr/0`...). */
export interface FieldIssue {
  field: string;
  message: string;
}

/** A failed API call, with the API's own message and per-field issues. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
}

const READS = new Set(['GET', 'HEAD']);

/**
 * Calls the API (same origin) and returns its JSON; throws {@link ApiError} on any non-2xx answer.
 * The session cookie goes along by itself; mutations add the session's CSRF token, and every call
 * names the chosen project. A 401 means the session is gone: the app shows the sign-in form.
 */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const s = session();
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (s.project) headers[PROJECT_HEADER] = s.project;
  if (!READS.has(method) && s.me?.csrfToken) headers[CSRF_HEADER] = s.me.csrfToken;
  const res = await fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal, credentials: 'same-origin' });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) {
    const b = (body ?? {}) as { message?: string; issues?: FieldIssue[] };
    const message = b.message ?? `${method} ${path} failed (${res.status})`;
    if (res.status === 401) askToSignIn(READS.has(method) ? 'Sign in to see this project.' : 'Sign in to do this.');
    throw new ApiError(res.status, message, b.issues ?? []);
  }
  return body as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, { signal });
