import prand from 'pure-rand';

/**
 * A seeded random stream with a serialisable state: xoroshiro128+ from `pure-rand`, wrapped with
 * the few draws Capillary needs. Streams are identified by (seed, stream) so that independent
 * consumers (batch i of a sampler, slice z of a synthetic volume) can each get their own stream
 * without depending on the order in which they run.
 */
export class Rng {
  private constructor(private gen: prand.RandomGenerator) {}

  /** A stream for `seed` and an optional sub-stream number, both 32-bit integers. */
  static of(seed: number, stream = 0): Rng {
    // All four state words come from hashing (seed, stream): pure-rand's own 32-bit seeding leaves
    // half the state zero, which makes the first draws of nearby seeds look alike.
    const h = mix32(seed, stream);
    const state: number[] = [mix32(h, 1), mix32(h, 2), mix32(h, 3), mix32(h, 4)];
    if (!state.some((w) => w !== 0)) state[0] = 1;
    return new Rng(prand.xoroshiro128plus.fromState(state));
  }

  /** Restores a stream from {@link Rng.getState}. */
  static fromState(state: readonly number[]): Rng {
    return new Rng(prand.xoroshiro128plus.fromState(state));
  }

  /** JSON-serialisable state (four 32-bit integers). */
  getState(): number[] {
    return [...(this.gen.getState?.() ?? [])];
  }

  /** Uniform unsigned 32-bit integer. */
  uint32(): number {
    return this.gen.unsafeNext() >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.float();
  }

  /** Standard normal (Box-Muller, one value per call so the state stays a plain generator state). */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** Mixes two 32-bit integers into a well-spread 32-bit seed (MurmurHash3 finaliser). */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ Math.imul((b | 0) + 0x7f4a7c15, 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
