/** A small client for the Capillary HTTP API, used by CLI commands. */
export interface ApiOptions {
  api: string;
  key?: string;
}

export function apiOptions(opts: { api?: string; key?: string }): ApiOptions {
  return {
    api: (opts.api ?? process.env.CAPILLARY_API ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`).replace(/\/$/, ''),
    key: opts.key ?? process.env.CAPILLARY_API_KEY,
  };
}

export async function apiRequest<T>(o: ApiOptions, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  let res: Response;
  try {
    res = await fetch(`${o.api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error(`cannot reach the API at ${o.api} (${(e as Error).message}); is \`npm run demo\` or the API running?`);
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${data?.message ?? text}`);
  return data as T;
}
