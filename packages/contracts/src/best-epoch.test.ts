import { describe, expect, it } from 'vitest';
import { bestEpochOf, epochScore, isBetterEpoch } from './best-epoch.ts';

describe('the best-epoch rule', () => {
  it('ranks by surface Dice, by Dice where surface Dice is undefined, earliest on ties', () => {
    expect(epochScore({ surfaceDice: 0.4, dice: 0.9 })).toBe(0.4);
    expect(epochScore({ surfaceDice: null, dice: 0.9 })).toBe(0.9);
    expect(epochScore({ surfaceDice: null, dice: null })).toBeNull();
    expect(isBetterEpoch({ surfaceDice: 0.5, dice: 0 }, { surfaceDice: 0.5, dice: 1 })).toBe(false);
    expect(isBetterEpoch({ surfaceDice: null, dice: null }, null)).toBe(false);
    const epochs = [
      { epoch: 3, surfaceDice: 0.6, dice: 0.1 },
      { epoch: 1, surfaceDice: 0.2, dice: 0.9 },
      { epoch: 2, surfaceDice: null, dice: 0.6 },
      { epoch: 4, surfaceDice: null, dice: null },
    ];
    expect(bestEpochOf(epochs)?.epoch).toBe(2);
    expect(bestEpochOf([{ epoch: 1, surfaceDice: null, dice: null }])).toBeNull();
  });
});
