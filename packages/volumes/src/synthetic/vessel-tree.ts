import { Rng } from '../rng.ts';

/** One straight piece of a vessel: a tapered capsule from p0 (radius r0) to p1 (radius r1), voxel units. */
export interface VesselSegment {
  p0: [number, number, number];
  p1: [number, number, number];
  r0: number;
  r1: number;
  /** Whether the annotators labelled this vessel (sparse labelling leaves whole branches out). */
  labelled: boolean;
}

/** Kidney-shaped tissue region: a bean (ellipsoid with a spherical notch at the hilum). */
export interface KidneyShape {
  centre: [number, number, number];
  /** Semi-axes [z, y, x]. */
  radii: [number, number, number];
  hilumCentre: [number, number, number];
  hilumRadius: number;
}

export interface VesselTreeOptions {
  shape: readonly [number, number, number];
  seed: number;
  /** Target share of tissue voxels inside vessels. */
  vesselDensity: number;
  /** Share of branches that carry labels. */
  labelledFraction: number;
  /** Radius of the trunks entering at the hilum, voxels. */
  maxRadius: number;
  /** Branches thinner than this end, voxels (0.5 = one voxel across). */
  minRadius: number;
}

/** The tissue bean for a volume shape: fills most of the volume, hilum notch on the low-x side. */
export function kidneyShape(shape: readonly [number, number, number]): KidneyShape {
  const [Z, Y, X] = shape;
  const centre: [number, number, number] = [(Z - 1) / 2, (Y - 1) / 2, (X - 1) / 2];
  const radii: [number, number, number] = [0.44 * Z, 0.44 * Y, 0.4 * X];
  return { centre, radii, hilumCentre: [centre[0], centre[1], centre[2] - 0.95 * radii[2]], hilumRadius: 0.42 * radii[2] };
}

/** Signed inside test: < 1 inside the bean (ellipsoid level), >= 1 outside or in the notch. */
export function kidneyLevel(k: KidneyShape, z: number, y: number, x: number): number {
  const dz = (z - k.centre[0]) / k.radii[0];
  const dy = (y - k.centre[1]) / k.radii[1];
  const dx = (x - k.centre[2]) / k.radii[2];
  const e = dz * dz + dy * dy + dx * dx;
  const hz = z - k.hilumCentre[0];
  const hy = y - k.hilumCentre[1];
  const hx = x - k.hilumCentre[2];
  const h = Math.sqrt(hz * hz + hy * hy + hx * hx) / k.hilumRadius;
  // Inside the notch the level rises above 1, smoothly, so the boundary stays continuous.
  return h < 1 ? Math.max(e, 1 + (1 - h)) : e;
}

/**
 * Grows branching vessel trees inside the kidney: trunks enter at the hilum, each branch is a
 * tortuous chain of short capsules, and at each bifurcation the radius splits by Murray's law
 * (r^3 = r1^3 + r2^3, asymmetric ratios), until branches reach `minRadius`. Trees are added until
 * the vessel volume reaches `vesselDensity` of the tissue volume (or a segment cap).
 */
export function growVesselTree(o: VesselTreeOptions): VesselSegment[] {
  const rng = Rng.of(o.seed, 0x7e11);
  const k = kidneyShape(o.shape);
  const kidneyRadius = Math.cbrt(k.radii[0] * k.radii[1] * k.radii[2]);
  const tissueVolume = (4 / 3) * Math.PI * k.radii[0] * k.radii[1] * k.radii[2] * 0.9;
  const target = o.vesselDensity * tissueVolume;
  const maxSegments = 400_000;
  const segments: VesselSegment[] = [];
  let volume = 0;
  const entry: [number, number, number] = [k.hilumCentre[0], k.hilumCentre[1], k.hilumCentre[2] + k.hilumRadius * 0.7];
  type Tip = { p: [number, number, number]; d: [number, number, number]; r: number; labelled: boolean };

  for (let tree = 0; tree < 1000 && volume < target && segments.length < maxSegments; tree++) {
    // Trunks fan out from the hilum into the +x half-space, with some spread in z and y.
    const d0 = normalise([rng.range(-0.6, 0.6), rng.range(-0.6, 0.6), rng.range(0.4, 1)]);
    const stack: Tip[] = [{ p: [...entry], d: d0, r: o.maxRadius, labelled: rng.float() < o.labelledFraction }];
    while (stack.length && volume < target && segments.length < maxSegments) {
      const tip = stack.pop()!;
      // Branch length follows the organ, not only the radius, so ~10 generations reach the cortex.
      const length = Math.max(4 * tip.r, 6, 0.4 * kidneyRadius * (tip.r / o.maxRadius) ** 0.6 * rng.range(0.6, 1.4));
      const steps = Math.max(2, Math.round(length / Math.max(2, 1.5 * tip.r)));
      const step = length / steps;
      let p = tip.p;
      let d = tip.d;
      let alive = true;
      for (let s = 0; s < steps; s++) {
        // Tortuosity: a random turn each step; steer back when about to leave the tissue.
        d = normalise([d[0] + 0.35 * rng.normal(), d[1] + 0.35 * rng.normal(), d[2] + 0.35 * rng.normal()]);
        let q = add(p, scale(d, step));
        for (let tries = 0; tries < 4 && kidneyLevel(k, ...q) > 0.92; tries++) {
          const toCentre = normalise(sub(k.centre, p));
          d = normalise(add(d, scale(toCentre, 1.2)));
          q = add(p, scale(d, step));
        }
        if (kidneyLevel(k, ...q) > 1 && kidneyLevel(k, ...p) <= 1) {
          alive = false;
          break;
        }
        segments.push({ p0: p, p1: q, r0: tip.r, r1: tip.r, labelled: tip.labelled });
        volume += Math.PI * tip.r * tip.r * step;
        p = q;
      }
      if (!alive) continue;
      const alpha = rng.range(0.55, 1); // asymmetry r2/r1
      const r1 = tip.r * Math.cbrt(1 / (1 + alpha ** 3));
      const r2 = alpha * r1;
      const axis = normalise(cross(d, [rng.normal(), rng.normal(), rng.normal()]));
      // The thinner child turns more, as in real bifurcations.
      for (const [r, angle] of [
        [r1, rng.range(0.2, 0.6)],
        [r2, -rng.range(0.5, 1.1)],
      ] as const) {
        if (r < o.minRadius) continue;
        const labelled = r === r1 ? tip.labelled : rng.float() < o.labelledFraction;
        stack.push({ p, d: rotate(d, axis, angle), r, labelled });
      }
    }
  }
  return segments;
}

type V3 = [number, number, number];
const add = (a: V3, b: V3): V3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const sub = (a: V3, b: V3): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const scale = (a: V3, s: number): V3 => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a: V3, b: V3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: V3, b: V3): V3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
function normalise(a: V3): V3 {
  const n = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
}
/** Rodrigues rotation of v about unit axis u by angle t. */
function rotate(v: V3, u: V3, t: number): V3 {
  const c = Math.cos(t);
  const s = Math.sin(t);
  return normalise(add(add(scale(v, c), scale(cross(u, v), s)), scale(u, dot(u, v) * (1 - c))));
}
