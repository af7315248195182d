import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkCache } from './chunk-cache.ts';

describe('ChunkCache', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'capillary-cc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = (v: number) => new Uint8Array(1000).fill(v);

  it('returns what was put, evicts least recently used entries past its limit, and reloads from disk', async () => {
    const c = new ChunkCache(dir, 4500);
    for (let i = 0; i < 4; i++) await c.put(`k${i}`, bytes(i));
    expect((await c.get('k0'))?.[0]).toBe(0); // k0 is now the most recently used
    await c.put('k4', bytes(4)); // 5000 > 4500: evicts the least recently used, k1, and its file
    expect(c.size).toBeLessThanOrEqual(4500);
    expect(await c.get('k1')).toBeUndefined();
    expect((await c.get('k0'))?.[0]).toBe(0);
    expect((await c.get('k4'))?.[0]).toBe(4);
    const files = readdirSync(dir, { recursive: true }).filter((f) => String(f).includes(path.sep)); // files sit in 2-character subfolders
    expect(files.length).toBe(4);
    const again = new ChunkCache(dir, 4500); // another process, same directory
    expect((await again.get('k4'))?.[0]).toBe(4);
    expect(again.size).toBe(4000);
  });

  it('does nothing with a zero limit', async () => {
    const c = new ChunkCache(path.join(dir, 'off'), 0);
    await c.put('a', bytes(1));
    expect(await c.get('a')).toBeUndefined();
  });
});
