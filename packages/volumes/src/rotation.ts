/** Geometry of the 3D plane rotation augmentation: rotation matrices and trilinear sampling of a box. */

export type Mat3 = [number, number, number, number, number, number, number, number, number];

/** Rotation by `degrees` about the unit `axis` (Rodrigues), row-major. */
export function rotationMatrix(axis: readonly [number, number, number], degrees: number): Mat3 {
  const [x, y, z] = axis;
  const t = (degrees * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const C = 1 - c;
  return [
    c + x * x * C, x * y * C - z * s, x * z * C + y * s,
    y * x * C + z * s, c + y * y * C, y * z * C - x * s,
    z * x * C - y * s, z * y * C + x * s, c + z * z * C,
  ];
}

export function apply(m: Mat3, v: readonly [number, number, number]): [number, number, number] {
  return [m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2], m[6] * v[0] + m[7] * v[1] + m[8] * v[2]];
}

/** Strides (slice, row, column) of a box, and its extent. */
export interface BoxLayout {
  s: number;
  r: number;
  c: number;
  ns: number;
  nr: number;
  nc: number;
}

/** Trilinear sample at box coordinates (slice, row, column); neighbours outside the box count as 0. */
export function trilinear(a: Float32Array, l: BoxLayout, ps: number, pr: number, pc: number): number {
  const s0 = Math.floor(ps);
  const r0 = Math.floor(pr);
  const c0 = Math.floor(pc);
  const fs = ps - s0;
  const fr = pr - r0;
  const fc = pc - c0;
  let v = 0;
  for (let ds = 0; ds < 2; ds++) {
    const ss = s0 + ds;
    if (ss < 0 || ss >= l.ns) continue;
    const ws = ds ? fs : 1 - fs;
    for (let dr = 0; dr < 2; dr++) {
      const rr = r0 + dr;
      if (rr < 0 || rr >= l.nr) continue;
      const wr = dr ? fr : 1 - fr;
      for (let dc = 0; dc < 2; dc++) {
        const cc = c0 + dc;
        if (cc < 0 || cc >= l.nc) continue;
        v += ws * wr * (dc ? fc : 1 - fc) * a[ss * l.s + rr * l.r + cc * l.c];
      }
    }
  }
  return v;
}
