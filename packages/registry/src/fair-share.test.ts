import { describe, expect, it } from 'vitest';
import { bullPriority, LEVEL_BAND } from './fair-share.ts';

describe('bullPriority', () => {
  it('orders by level, then rank, then the smaller backlog, within BullMQ bounds', () => {
    // Any run of level 1 before any of level 2, whatever its rank.
    expect(bullPriority(1, 1_000_000, 500)).toBeLessThan(bullPriority(2, 0, 1));
    // A key's second queued run waits behind every other key's first.
    expect(bullPriority(5, 0, 100)).toBeLessThan(bullPriority(5, 1, 100));
    expect(bullPriority(5, 0, 1)).toBeLessThan(bullPriority(5, 1, 100));
    // Equal ranks: the key with one queued run before the key with a hundred.
    expect(bullPriority(5, 0, 1)).toBeLessThan(bullPriority(5, 0, 100));
    expect(bullPriority(1, 0, 0)).toBe(1);
    expect(bullPriority(10, 1e9, 1e9)).toBeLessThanOrEqual(2 ** 21);
    expect(bullPriority(10, 1e9, 1e9)).toBeLessThanOrEqual(10 * LEVEL_BAND);
  });
});
