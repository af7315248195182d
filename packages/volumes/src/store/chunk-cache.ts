import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { env } from '@capillary/contracts';

/**
 * A size-limited on-disk cache of chunk bytes, so a second epoch reads chunks from local disk
 * instead of S3. Keys are S3 keys; volume chunks never change once written (every import writes
 * under a fresh prefix), so entries never go stale and need no validation.
 *
 * Least-recently-used entries are evicted (their files removed) when the total passes `maxBytes`.
 * The LRU index (lru-cache, file name -> bytes) lives in this process, seeded from file times when it
 * first opens the directory; several processes may
 * share a directory: writes are atomic (temporary file + rename) and a file another process evicted
 * is just a miss.
 */
export class ChunkCache {
  private readonly entries: LRUCache<string, number>;
  /** Files of evicted entries being removed; a put waits for the ones it caused. */
  private removals: Promise<unknown>[] = [];
  private loaded?: Promise<void>;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.entries = new LRUCache<string, number>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (bytes) => Math.max(1, bytes),
      dispose: (_bytes, name, reason) => {
        if (reason === 'evict') this.removals.push(rm(this.filePath(name), { force: true }).catch(() => undefined));
      },
    });
  }

  /** Cached bytes of `key`, or undefined. */
  async get(key: string): Promise<Uint8Array | undefined> {
    if (this.maxBytes <= 0) return undefined;
    await this.load();
    const name = fileName(key);
    try {
      const buf = readFileSync(this.filePath(name));
      this.touch(name, buf.length);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    } catch {
      this.forget(name);
      return undefined;
    }
  }

  /** Stores bytes for `key`, evicting old entries beyond the limit. Failures only cost a miss later. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.maxBytes <= 0 || bytes.length > this.maxBytes) return;
    await this.load();
    const name = fileName(key);
    const file = this.filePath(name);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${randomUUID()}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch {
      return;
    }
    this.touch(name, bytes.length);
    await this.settleRemovals();
  }

  /** Bytes currently accounted to this cache. */
  get size(): number {
    return this.entries.calculatedSize;
  }

  private filePath(name: string): string {
    return path.join(this.dir, name.slice(0, 2), name);
  }

  private touch(name: string, bytes: number): void {
    // Same size: only the recency changes (a set would count it as a replacement).
    if (this.entries.get(name) !== bytes) this.entries.set(name, bytes);
  }

  private forget(name: string): void {
    this.entries.delete(name);
  }

  private async settleRemovals(): Promise<void> {
    const pending = this.removals;
    this.removals = [];
    await Promise.all(pending);
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const found: { name: string; bytes: number; time: number }[] = [];
      let subdirs: string[] = [];
      try {
        subdirs = await readdir(this.dir);
      } catch {
        return;
      }
      for (const sub of subdirs) {
        let names: string[] = [];
        try {
          names = await readdir(path.join(this.dir, sub));
        } catch {
          continue;
        }
        for (const name of names) {
          if (name.endsWith('.tmp')) continue;
          try {
            const s = await stat(path.join(this.dir, sub, name));
            found.push({ name, bytes: s.size, time: s.mtimeMs });
          } catch {
            // evicted meanwhile by another process
          }
        }
      }
      found.sort((a, b) => a.time - b.time);
      for (const f of found) this.touch(f.name, f.bytes);
      await this.settleRemovals();
    })();
    return this.loaded;
  }
}

function fileName(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 40);
}

let shared: ChunkCache | undefined;

/** The process's chunk cache, from CHUNK_CACHE_DIR and CHUNK_CACHE_MAX_MB (0 turns it off). */
export function chunkCacheFromEnv(): ChunkCache {
  if (shared) return shared;
  const e = env();
  shared = new ChunkCache(path.resolve(e.CHUNK_CACHE_DIR), e.CHUNK_CACHE_MAX_MB * 1024 * 1024);
  return shared;
}
