import { InvalidArgumentError, type Command } from 'commander';

/** A small client for the Capillary HTTP API, used by CLI commands. */
export interface ApiOptions {
  api: string;
  key?: string;
  /** The project the request acts in (the API's x-capillary-project header). */
  project?: string;
}

/** `needsKey`: the command has no anonymous use, so a missing key is named before any request. */
export function apiOptions(opts: { api?: string; key?: string; project?: string }, { needsKey = false } = {}): ApiOptions {
  const key = opts.key ?? process.env.CAPILLARY_API_KEY;
  if (needsKey && !key) throw new Error('--key: no API key; set CAPILLARY_API_KEY or pass --key <key> (a key is made on the server with `capillary api-key create`)');
  return {
    api: (opts.api ?? process.env.CAPILLARY_API ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`).replace(/\/$/, ''),
    key,
    project: opts.project,
  };
}

/** The --api and --key options of a command that calls the API. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'API base URL (default $CAPILLARY_API or http://127.0.0.1:3000)')
    .option('--key <key>', 'API key (default $CAPILLARY_API_KEY)');
}

/** An option's argument parser for a whole number in [min, max]; commander names the option when it throws. */
export const wholeNumber = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return n;
};

export async function apiRequest<T>(o: ApiOptions, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  if (o.project) headers['x-capillary-project'] = o.project;
  let res: Response;
  try {
    res = await fetch(`${o.api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error(`cannot reach the API at ${o.api} (${(e as Error).message}); is \`npm run demo\` or the API running?`);
  }
  const text = await res.text();
  let data: { message?: string } | undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // A proxy's HTML error page: the status and text say more than a JSON parse error.
    if (res.ok) throw new Error(`${method} ${path} -> ${res.status}, but the answer is not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${data?.message ?? text.slice(0, 500)}`);
  return data as T;
}
