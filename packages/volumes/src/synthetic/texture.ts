import { mix32 } from '../rng.ts';

/** Lattice value in [-1, 1) for integer coordinates: a hash, so any slice can be made on its own. */
function lattice(seed: number, x: number, y: number, z: number): number {
  return mix32(mix32(mix32(seed, x), y), z) / 2147483648;
}

const smooth = (t: number) => t * t * (3 - 2 * t);

/**
 * Adds `amp` times smooth 3D value noise of feature size `cell` voxels, evaluated on z slice `z`,
 * to `out` (Y x X). The lattice is interpolated along z once per slice and then bilinearly in the
 * plane (smoothstep weights), so a slice costs a few operations per pixel and neighbouring slices
 * are continuous. Value noise has std of about 0.33 (see {@link VALUE_NOISE_STD}).
 */
export function addValueNoise(out: Float32Array, Y: number, X: number, z: number, cell: number, seed: number, amp: number): void {
  const gz = z / cell;
  const iz = Math.floor(gz);
  const fz = smooth(gz - iz);
  const ny = Math.floor((Y - 1) / cell) + 2;
  const nx = Math.floor((X - 1) / cell) + 2;
  const grid = new Float32Array(ny * nx);
  for (let gy = 0; gy < ny; gy++) {
    for (let gx = 0; gx < nx; gx++) {
      const a = lattice(seed, gx, gy, iz);
      const b = lattice(seed, gx, gy, iz + 1);
      grid[gy * nx + gx] = a + (b - a) * fz;
    }
  }
  const colIdx = new Int32Array(X);
  const colW = new Float32Array(X);
  for (let x = 0; x < X; x++) {
    const g = x / cell;
    colIdx[x] = Math.floor(g);
    colW[x] = smooth(g - colIdx[x]);
  }
  for (let y = 0; y < Y; y++) {
    const g = y / cell;
    const iy = Math.floor(g);
    const wy = smooth(g - iy);
    const r0 = iy * nx;
    const r1 = r0 + nx;
    const o = y * X;
    for (let x = 0; x < X; x++) {
      const ix = colIdx[x];
      const wx = colW[x];
      const top = grid[r0 + ix] + (grid[r0 + ix + 1] - grid[r0 + ix]) * wx;
      const bot = grid[r1 + ix] + (grid[r1 + ix + 1] - grid[r1 + ix]) * wx;
      out[o + x] += amp * (top + (bot - top) * wy);
    }
  }
}

/**
 * Standard deviation of {@link addValueNoise} with amp 1 (uniform lattice values in [-1, 1),
 * smoothstep interpolation in 3D), measured once on 64 slices of 256 x 256 with cell 8.
 * Used to scale textures to a target std.
 */
export const VALUE_NOISE_STD = measureStd();

function measureStd(): number {
  const plane = new Float32Array(256 * 256);
  let s = 0;
  let ss = 0;
  let n = 0;
  for (let z = 0; z < 64; z += 4) {
    plane.fill(0);
    addValueNoise(plane, 256, 256, z, 8, 12345, 1);
    for (const v of plane) {
      s += v;
      ss += v * v;
      n++;
    }
  }
  const m = s / n;
  return Math.sqrt(ss / n - m * m);
}
