import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../api.ts';
import { TileCache } from './tiles.ts';

// A real HTTP server that answers slices as the API does (bytes plus their size in headers) and
// counts the requests per path; `/held/...` answers only once the test lets it.
const TILE_BYTES = 100;
let server: Server;
let base: string;
const requests = new Map<string, number>();
let release: () => void = () => {};
let held = new Promise<void>((r) => (release = r));

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (path.startsWith('/missing/')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `no slice at ${path}` }));
      return;
    }
    if (path.startsWith('/held/')) await held;
    res.writeHead(200, { 'x-slice-width': '10', 'x-slice-height': String(TILE_BYTES / 10) }).end(Buffer.alloc(TILE_BYTES, path.length));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  requests.clear();
  held = new Promise<void>((r) => (release = r));
});

const url = (path: string) => `${base}${path}`;

describe('TileCache', () => {
  it('shares a request in flight, then answers from memory', async () => {
    const cache = new TileCache();
    const a = cache.get(url('/held/a'));
    const b = cache.get(url('/held/a'));
    expect(cache.peek(url('/held/a'))).toBeUndefined();
    await new Promise<void>((r) => server.once('request', () => r()));
    release();
    const [ta, tb] = await Promise.all([a, b]);
    expect(ta).toBe(tb);
    expect([ta.width, ta.height, ta.data.length]).toEqual([10, 10, TILE_BYTES]);
    expect(cache.peek(url('/held/a'))).toBe(ta);
    expect(await cache.get(url('/held/a'))).toBe(ta);
    expect(requests.get('/held/a')).toBe(1);
  });

  it('keeps at most its bytes, dropping the least recently used tile', async () => {
    const cache = new TileCache(3 * TILE_BYTES);
    for (const name of ['a', 'b', 'c']) await cache.get(url(`/${name}`));
    // Looking at `a` makes `b` the oldest.
    expect(cache.peek(url('/a'))).toBeDefined();
    await cache.get(url('/d'));
    expect(cache.peek(url('/b'))).toBeUndefined();
    for (const name of ['a', 'c', 'd']) expect(cache.peek(url(`/${name}`))).toBeDefined();
    await cache.get(url('/b'));
    expect(requests.get('/b')).toBe(2);
    expect(requests.get('/a')).toBe(1);
  });

  it('does not keep a failed request: its waiters get the API error, the next get asks again', async () => {
    const cache = new TileCache();
    const waiters = await Promise.allSettled([cache.get(url('/missing/x')), cache.get(url('/missing/x'))]);
    for (const w of waiters) {
      expect(w.status).toBe('rejected');
      const e = (w as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(ApiError);
      expect([e.status, e.message]).toEqual([404, 'no slice at /missing/x']);
    }
    expect(requests.get('/missing/x')).toBe(1);
    await expect(cache.get(url('/missing/x'))).rejects.toThrow('no slice at /missing/x');
    expect(requests.get('/missing/x')).toBe(2);
  });
});
