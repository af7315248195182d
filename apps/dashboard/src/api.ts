import { askForApiKey, forgetApiKey, storedApiKey } from './api-key.ts';

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
  /** Send the stored API key, asking the user for one first when none is stored. */
  auth?: boolean;
  signal?: AbortSignal;
}

async function send(method: string, path: string, opts: RequestOptions, key: string | null): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers.authorization = `Bearer ${key}`;
  return fetch(path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
}

/** Calls the API (same origin) and returns its JSON; throws {@link ApiError} on any non-2xx answer. */
export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  let key = opts.auth ? (storedApiKey() ?? (await askForApiKey())) : null;
  let res = await send(method, path, opts, key);
  if (res.status === 401 && opts.auth) {
    // A revoked or mistyped key: forget it and ask once more.
    forgetApiKey();
    key = await askForApiKey('That API key was refused. Enter a valid key.');
    res = await send(method, path, opts, key);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) {
    const b = (body ?? {}) as { message?: string; issues?: FieldIssue[] };
    throw new ApiError(res.status, b.message ?? `${method} ${path} failed (${res.status})`, b.issues ?? []);
  }
  return body as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, { signal });
