/**
 * A tiny, easily learnable test volume: bright tubes (random straight segments, radius 1-2.5) on a
 * darker noisy background, with exact labels. For engine tests only; realistic data comes from
 * `@capillary/volumes/synthetic`.
 */
import { MemoryVolume, Rng } from '@capillary/volumes';

export function tubeVolume(id: string, shape: [number, number, number], seed: number, tubes = 12): MemoryVolume {
  const [Z, Y, X] = shape;
  const rng = Rng.of(seed);
  const label = new Uint8Array(Z * Y * X);
  for (let t = 0; t < tubes; t++) {
    const a = [rng.range(0, Z), rng.range(0, Y), rng.range(0, X)];
    const b = [rng.range(0, Z), rng.range(0, Y), rng.range(0, X)];
    const r = rng.range(1, 2.5);
    const d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    const len2 = d[0] ** 2 + d[1] ** 2 + d[2] ** 2 || 1;
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) {
          const p = [z - a[0], y - a[1], x - a[2]];
          const s = Math.max(0, Math.min(1, (p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / len2));
          const q = [p[0] - s * d[0], p[1] - s * d[1], p[2] - s * d[2]];
          if (q[0] ** 2 + q[1] ** 2 + q[2] ** 2 <= r * r) label[(z * Y + y) * X + x] = 1;
        }
  }
  const image = new Uint16Array(Z * Y * X);
  for (let i = 0; i < image.length; i++) image[i] = Math.max(0, Math.round(20000 + (label[i] ? 3000 : 0) + rng.normal() * 900));
  return new MemoryVolume(id, shape, image, label);
}
