import { describe, expect, it } from 'vitest';
import { MetricInputError } from './errors.ts';
import { SURFACE_AREA_TABLE } from './surface-area-table.ts';
import { SurfaceDiceStream } from './surface-dice-stream.ts';

type Volume = { d: number; h: number; w: number; data: Uint8Array };

/** Whole-volume definition, written independently of the stream: every corner of the padded grid. */
function bruteForce(truth: Volume, pred: Volume): { surfaceDice: number | null; dice: number | null } {
  const { d, h, w } = truth;
  const at = (v: Volume, z: number, y: number, x: number) =>
    z < 0 || y < 0 || x < 0 || z >= d || y >= h || x >= w ? 0 : v.data[(z * h + y) * w + x] ? 1 : 0;
  const code = (v: Volume, z: number, y: number, x: number) => {
    let c = 0;
    for (let dz = 0; dz < 2; dz++)
      for (let dy = 0; dy < 2; dy++)
        for (let dx = 0; dx < 2; dx++) c |= at(v, z - 1 + dz, y - 1 + dy, x - 1 + dx) << (7 - (4 * dz + 2 * dy + dx));
    return c;
  };
  let matched = 0;
  let total = 0;
  for (let z = 0; z <= d; z++)
    for (let y = 0; y <= h; y++)
      for (let x = 0; x <= w; x++) {
        const ct = code(truth, z, y, x);
        const cp = code(pred, z, y, x);
        const bt = ct !== 0 && ct !== 255;
        const bp = cp !== 0 && cp !== 255;
        total += SURFACE_AREA_TABLE[ct] + SURFACE_AREA_TABLE[cp];
        if (bt && bp) matched += SURFACE_AREA_TABLE[ct] + SURFACE_AREA_TABLE[cp];
      }
  let nt = 0;
  let np = 0;
  let nb = 0;
  for (let i = 0; i < truth.data.length; i++) {
    const t = truth.data[i] ? 1 : 0;
    const p = pred.data[i] ? 1 : 0;
    nt += t;
    np += p;
    nb += t & p;
  }
  return { surfaceDice: total === 0 ? null : matched / total, dice: nt + np === 0 ? null : (2 * nb) / (nt + np) };
}

function streamed(truth: Volume, pred: Volume) {
  const stream = new SurfaceDiceStream(truth.h, truth.w);
  const n = truth.h * truth.w;
  for (let z = 0; z < truth.d; z++) stream.push(truth.data.subarray(z * n, (z + 1) * n), pred.data.subarray(z * n, (z + 1) * n));
  return stream.result();
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Random balls, so both smooth surfaces and isolated voxels occur. */
function randomVolume(rand: () => number, d: number, h: number, w: number, balls: number, noise: number): Volume {
  const data = new Uint8Array(d * h * w);
  const centres = Array.from({ length: balls }, () => [rand() * d, rand() * h, rand() * w, 0.5 + rand() * 3]);
  for (let z = 0; z < d; z++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const inBall = centres.some(([cz, cy, cx, r]) => (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r);
        const flip = rand() < noise;
        data[(z * h + y) * w + x] = inBall !== flip ? (rand() < 0.5 ? 1 : 200) : 0;
      }
  return { d, h, w, data };
}

describe('SurfaceDiceStream', () => {
  it('equals the whole-volume definition on random small volumes', () => {
    const rand = lcg(42);
    for (let trial = 0; trial < 40; trial++) {
      const d = 1 + Math.floor(rand() * 9);
      const h = 1 + Math.floor(rand() * 13);
      const w = 1 + Math.floor(rand() * 13);
      const truth = randomVolume(rand, d, h, w, Math.floor(rand() * 4), rand() * 0.1);
      const pred = randomVolume(rand, d, h, w, Math.floor(rand() * 4), rand() * 0.1);
      const expected = bruteForce(truth, pred);
      const got = streamed(truth, pred);
      if (expected.surfaceDice === null) expect(got.surfaceDice).toBeNull();
      else expect(got.surfaceDice).toBeCloseTo(expected.surfaceDice, 12);
      if (expected.dice === null) expect(got.dice).toBeNull();
      else expect(got.dice).toBeCloseTo(expected.dice, 12);
      // Truth against itself is perfect whenever it has any voxel.
      if (truth.data.some((v) => v !== 0)) expect(streamed(truth, truth)).toEqual({ surfaceDice: 1, dice: 1 });
    }
  });

  it('counts the volume borders: a full volume has a surface', () => {
    const full = { d: 3, h: 4, w: 5, data: new Uint8Array(60).fill(1) };
    const shifted = { d: 3, h: 4, w: 5, data: new Uint8Array(60).fill(1) };
    shifted.data.fill(0, 0, 20);
    expect(streamed(full, full).surfaceDice).toBe(1);
    expect(streamed(full, shifted).surfaceDice).toBeCloseTo(bruteForce(full, shifted).surfaceDice!, 12);
    expect(streamed(full, shifted).dice).toBeCloseTo((2 * 40) / 100, 12);
  });

  it('gives null with a reason when both masks are empty, 0 when only one is', () => {
    const empty = { d: 2, h: 3, w: 3, data: new Uint8Array(18) };
    const dot = { d: 2, h: 3, w: 3, data: new Uint8Array(18) };
    dot.data[4] = 1;
    const both = streamed(empty, empty);
    expect(both.surfaceDice).toBeNull();
    expect(both.dice).toBeNull();
    expect(both.reason).toMatch(/both empty/);
    expect(streamed(dot, empty)).toEqual({ surfaceDice: 0, dice: 0 });
  });

  it('scores a single slice as a one-voxel slab', () => {
    const t = { d: 1, h: 4, w: 4, data: new Uint8Array(16).fill(1) };
    const p = { d: 1, h: 4, w: 4, data: new Uint8Array(16) };
    p.data.fill(1, 0, 8);
    expect(streamed(t, p).surfaceDice).toBeCloseTo(bruteForce(t, p).surfaceDice!, 12);
  });

  it('reports intermediate results without changing the final one', () => {
    const rand = lcg(3);
    const t = randomVolume(rand, 6, 8, 9, 3, 0.05);
    const p = randomVolume(rand, 6, 8, 9, 3, 0.05);
    const stream = new SurfaceDiceStream(8, 9);
    for (let z = 0; z < 6; z++) {
      stream.push(t.data.subarray(z * 72, (z + 1) * 72), p.data.subarray(z * 72, (z + 1) * 72));
      stream.result();
    }
    expect(stream.depth).toBe(6);
    expect(stream.result().surfaceDice).toBeCloseTo(bruteForce(t, p).surfaceDice!, 12);
  });

  it('rejects slices of the wrong size and bad dimensions', () => {
    const stream = new SurfaceDiceStream(2, 3);
    expect(() => stream.push(new Uint8Array(6), new Uint8Array(5))).toThrow(MetricInputError);
    expect(() => new SurfaceDiceStream(0, 3)).toThrow(MetricInputError);
    expect(new SurfaceDiceStream(2, 2).result()).toMatchObject({ surfaceDice: null, reason: /no slices/ });
  });
});
