import { LRUCache } from 'lru-cache';

/** Anything whose memory is its bytes: typed arrays, Buffers. */
export interface Sized {
  readonly byteLength: number;
}

/**
 * A least-recently-used cache of computed byte arrays, bounded by their total size, where any number
 * of concurrent `get`s of one key share a single computation (lru-cache's `fetch`): one
 * computation, many waiters. A failed computation is not cached; its waiters all get its error.
 */
export class ComputedCache<V extends Sized> {
  private readonly lru: LRUCache<string, V, () => Promise<V>>;
  /** Computations started (misses that were not already in flight). */
  computations = 0;

  constructor(readonly maxBytes: number) {
    this.lru = new LRUCache<string, V, () => Promise<V>>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (v) => Math.max(1, v.byteLength),
      fetchMethod: (_key, _stale, { context }) => {
        this.computations++;
        return context();
      },
      // An entry evicted while it is computed still answers the requests that wait for it.
      ignoreFetchAbort: true,
    });
  }

  /** The cached value of `key`, or `compute()`'s, shared with every caller asking meanwhile. */
  async get(key: string, compute: () => Promise<V>): Promise<V> {
    const v = await this.lru.fetch(key, { context: compute });
    if (v === undefined) throw new Error(`computing ${key} gave no value`);
    return v;
  }

  /** The value when cached, without computing or reordering anything. */
  peek(key: string): V | undefined {
    return this.lru.peek(key);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** Entries held (finished or in flight). */
  get size(): number {
    return this.lru.size;
  }
}
