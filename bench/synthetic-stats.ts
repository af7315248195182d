// `npm run bench -- synthetic-stats`: grey-level statistics of the real HiP-CT slices in
// ../shared/data/hipct-kidney5 (kidney_5 slices 0-2: embedding medium only, no tissue) against the
// embedding-medium region of a synthetic kidney of the same slice size, and the synthetic tissue and
// vessel levels. Statistics: mean, std, 0.5/99.5th percentiles, pixel noise (std of horizontal
// neighbour differences / sqrt 2), z noise (same between neighbouring slices), and the
// autocorrelation at 8 and 32 pixels (texture scale). Last line: JSON.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kidneyLevel, kidneyShape, syntheticSlices } from '@capillary/volumes';
import { decodeGray, tiffPages } from '@capillary/volumes/importers';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '../../shared/data/hipct-kidney5');
if (!existsSync(DATA)) {
  console.warn(`synthetic-stats: ${DATA} is absent; nothing to compare against`);
  process.exit(0);
}

interface Stats {
  n: number;
  mean: number;
  std: number;
  p005: number;
  p995: number;
  pixelNoise: number;
  zNoise: number;
  autocorr8: number;
  autocorr32: number;
}

/** Statistics over the pixels of slice `a` where `keep` is true (`b` is the next slice). */
function stats(a: Uint16Array, b: Uint16Array, H: number, W: number, keep: (y: number, x: number) => boolean): Stats {
  const vals: number[] = [];
  let dx = 0, dx2 = 0, nx = 0, dz = 0, dz2 = 0, nz = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (!keep(y, x)) continue;
      const i = y * W + x;
      vals.push(a[i]);
      if (x + 1 < W && keep(y, x + 1)) {
        const d = a[i + 1] - a[i];
        dx += d; dx2 += d * d; nx++;
      }
      const e = b[i] - a[i];
      dz += e; dz2 += e * e; nz++;
    }
  const n = vals.length;
  const mean = vals.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
  const sorted = Float64Array.from(vals).sort();
  const pct = (q: number) => sorted[Math.floor(q * (n - 1))];
  const ac = (lag: number) => {
    let s = 0, c = 0;
    for (let y = 0; y < H; y += 2)
      for (let x = 0; x + lag < W; x += 2) {
        if (!keep(y, x) || !keep(y, x + lag)) continue;
        s += (a[y * W + x] - mean) * (a[y * W + x + lag] - mean);
        c++;
      }
    return s / c / (std * std);
  };
  const sd = (s: number, s2: number, m: number) => Math.sqrt(s2 / m - (s / m) ** 2) / Math.SQRT2;
  return { n, mean, std, p005: pct(0.005), p995: pct(0.995), pixelNoise: sd(dx, dx2, nx), zNoise: sd(dz, dz2, nz), autocorr8: ac(8), autocorr32: ac(32) };
}

const read = (f: string) => {
  const buf = new Uint8Array(readFileSync(path.join(DATA, f)));
  return decodeGray(buf, tiffPages(buf, f)[0], f) as Uint16Array;
};
const real = ['0000.tif', '0001.tif', '0002.tif'].map(read);
const H = 1303;
const W = 912;
const realStats = stats(real[0], real[1], H, W, () => true);

const shape: [number, number, number] = [40, H, W];
const k = kidneyShape(shape);
const z = 20;
let s0: Uint16Array | undefined;
let s1: Uint16Array | undefined;
let lab: Uint8Array | undefined;
for (const s of syntheticSlices({ shape, seed: 1 })) {
  if (s.z === z) { s0 = s.image; lab = s.label; }
  if (s.z === z + 1) { s1 = s.image; break; }
}
const medium = stats(s0!, s1!, H, W, (y, x) => kidneyLevel(k, z, y, x) > 1.15);
const tissue = stats(s0!, s1!, H, W, (y, x) => kidneyLevel(k, z, y, x) < 0.85 && !lab![y * W + x]);
const vessel = stats(s0!, s1!, H, W, (y, x) => !!lab![y * W + x] && kidneyLevel(k, z, y, x) < 0.85);

const fmt = (s: Stats) =>
  `mean ${s.mean.toFixed(0)}  std ${s.std.toFixed(0)}  p0.5 ${s.p005}  p99.5 ${s.p995}  pixel noise ${s.pixelNoise.toFixed(0)}  z noise ${s.zNoise.toFixed(0)}  autocorr@8 ${s.autocorr8.toFixed(2)}  @32 ${s.autocorr32.toFixed(2)}  (n=${s.n})`;
console.log(`real kidney_5 slice 0 (medium): ${fmt(realStats)}`);
console.log(`synthetic medium region:        ${fmt(medium)}`);
console.log(`synthetic tissue:               ${fmt(tissue)}`);
console.log(`synthetic labelled vessels:     ${fmt(vessel)}`);
const round = (s: Stats) => Object.fromEntries(Object.entries(s).map(([key, v]) => [key, +v.toFixed(3)]));
console.log(JSON.stringify({ real: round(realStats), syntheticMedium: round(medium), syntheticTissue: round(tissue), syntheticVessel: round(vessel) }));
