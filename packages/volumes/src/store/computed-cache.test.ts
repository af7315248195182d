import { describe, expect, it } from 'vitest';
import { ComputedCache } from './computed-cache.ts';

describe('ComputedCache', () => {
  it('runs one computation for any number of concurrent gets of a key', async () => {
    const cache = new ComputedCache<Uint8Array>(1024);
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const compute = async () => {
      runs++;
      await gate;
      return new Uint8Array([7, 8, 9]);
    };
    const waiting = Array.from({ length: 25 }, () => cache.get('k', compute));
    release();
    const got = await Promise.all(waiting);
    expect(runs).toBe(1);
    expect(cache.computations).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(Array.from(got[0])).toEqual([7, 8, 9]);
    await cache.get('k', compute);
    expect(runs).toBe(1);
  });

  it('gives every waiter the error of a failed computation and caches nothing', async () => {
    const cache = new ComputedCache<Uint8Array>(1024);
    let runs = 0;
    const failing = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('S3 went away');
    };
    const results = await Promise.allSettled([cache.get('k', failing), cache.get('k', failing)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason.message).toBe('S3 went away');
    expect(runs).toBe(1);
    expect(cache.peek('k')).toBeUndefined();
    expect(Array.from(await cache.get('k', async () => new Uint8Array([1])))).toEqual([1]);
  });

  it('evicts the least recently used entries beyond its byte budget', async () => {
    const cache = new ComputedCache<Uint8Array>(300);
    for (const k of ['a', 'b', 'c']) await cache.get(k, async () => new Uint8Array(100));
    await cache.get('a', async () => new Uint8Array(100)); // a is now the most recent
    await cache.get('d', async () => new Uint8Array(100));
    expect(cache.bytes).toBe(300);
    expect(cache.peek('b')).toBeUndefined();
    expect(cache.peek('a')).toBeDefined();
    // Larger than the whole budget: answered, not kept.
    const big = await cache.get('huge', async () => new Uint8Array(1000));
    expect(big.byteLength).toBe(1000);
    expect(cache.peek('huge')).toBeUndefined();
    expect(cache.bytes).toBeLessThanOrEqual(300);
  });
});
