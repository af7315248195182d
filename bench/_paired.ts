// Paired timing of two ways of making the same request, one request in flight at a time: the
// per-request cost of a difference (a key against none, this build against an older one) without
// the queueing that dominates latency under concurrent load.
import http from 'node:http';

export interface Timed {
  status: number;
  ms: number;
}

/** One request on `agent`'s connection, to the end of its body: its status and milliseconds. */
export function timedRequest(agent: http.Agent, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = http.request(url, { agent, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface PairedFigures {
  pairs: number;
  aP50Ms: number;
  bP50Ms: number;
  /** The median of b - a over the pairs: drift of the machine cancels within a pair. */
  pairedDifferenceP50Ms: number;
  statuses: Record<string, number>;
}

/**
 * Sends `a(i)` and `b(i)` for i = 0, 1, ... one at a time, alternating which goes first (ABBA),
 * for `seconds`. Each should use a kept-alive connection of its own. `names` label the two sides
 * in `statuses` ("<name> <status>": count).
 */
export async function paired(a: (i: number) => Promise<Timed>, b: (i: number) => Promise<Timed>, seconds: number, names: { a: string; b: string } = { a: 'a', b: 'b' }): Promise<PairedFigures> {
  const as: number[] = [];
  const bs: number[] = [];
  const statuses: Record<string, number> = {};
  const until = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < until; i++) {
    for (const which of i % 2 ? (['b', 'a'] as const) : (['a', 'b'] as const)) {
      const r = await (which === 'a' ? a(i) : b(i));
      const tag = `${names[which]} ${r.status}`;
      statuses[tag] = (statuses[tag] ?? 0) + 1;
      (which === 'a' ? as : bs).push(r.ms);
    }
  }
  const pairs = Math.min(as.length, bs.length);
  return {
    pairs,
    aP50Ms: round3(median(as)),
    bP50Ms: round3(median(bs)),
    pairedDifferenceP50Ms: round3(median(Array.from({ length: pairs }, (_, i) => bs[i] - as[i]))),
    statuses,
  };
}
