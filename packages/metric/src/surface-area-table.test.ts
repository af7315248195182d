import { describe, expect, it } from 'vitest';
import { SURFACE_AREA_TABLE, marchingCubesArea } from './surface-area-table.ts';

describe('SURFACE_AREA_TABLE', () => {
  it('has the official values for single corners, edges and faces', () => {
    expect(SURFACE_AREA_TABLE).toHaveLength(256);
    expect(SURFACE_AREA_TABLE[1]).toBeCloseTo(0.216506, 6);
    expect(SURFACE_AREA_TABLE[3]).toBeCloseTo(0.707107, 6);
    expect(SURFACE_AREA_TABLE[15]).toBeCloseTo(1.0, 12);
  });

  it('has 13 distinct values summing to 241.34315', () => {
    const distinct = new Set(Array.from(SURFACE_AREA_TABLE, (v) => v.toFixed(9)));
    expect(distinct.size).toBe(13);
    const sum = SURFACE_AREA_TABLE.reduce((a, b) => a + b, 0);
    // 241.343140 in float64; the official float32 table sums to 241.34315.
    expect(Math.abs(sum - 241.34315)).toBeLessThan(2e-5);
  });

  it('is zero exactly off the surface and symmetric under complement', () => {
    expect(SURFACE_AREA_TABLE[0]).toBe(0);
    expect(SURFACE_AREA_TABLE[255]).toBe(0);
    for (let code = 1; code < 255; code++) {
      expect(SURFACE_AREA_TABLE[code]).toBeGreaterThan(0.2);
      expect(SURFACE_AREA_TABLE[255 - code]).toBeCloseTo(SURFACE_AREA_TABLE[code], 12);
    }
  });

  it('triangulates the non-planar polygons as the classic table does', () => {
    // Three corners in an L (bits 0,1,2) and a four-corner zigzag (bits 0,1,3,4).
    expect(marchingCubesArea(7)).toBeCloseTo(0.5 + Math.sqrt(3) / 4 + Math.sqrt(3) / 8, 9);
    expect(marchingCubesArea(27)).toBeCloseTo(1.573132, 6);
    // Corner with its three neighbours: a planar regular hexagon.
    expect(marchingCubesArea(23)).toBeCloseTo((3 * Math.sqrt(3)) / 4, 9);
  });
});
