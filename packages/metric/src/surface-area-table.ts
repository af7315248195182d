/**
 * The competition's surface-area lookup table: for each 2x2x2 neighbourhood code, the area (unit
 * voxel spacing) of the marching-cubes surface inside that cube.
 *
 * Bit order is the official one (DeepMind `surface-distance`, `ENCODE_NEIGHBOURHOOD_3D_KERNEL`
 * `[[[128, 64], [32, 16]], [[8, 4], [2, 1]]]` applied with `scipy.ndimage.correlate`): for the corner
 * whose cube spans voxels `(z-1..z, y-1..y, x-1..x)`, the voxel at offset `(dz, dy, dx)` (each 0 or
 * 1, offset 1 meaning the voxel at `z`, `y` or `x` itself) sets bit `7 - (4*dz + 2*dy + dx)`.
 *
 * Derivation (no hard-coded areas): classic marching cubes with vertices at edge midpoints. The
 * surface of a cube is made of one polygon per edge-connected group of corners on the minority side
 * (inside corners when at most 4 are inside, outside corners otherwise, which is how the classic
 * table treats complements and separates face-diagonal corners). The polygon's vertices are the
 * midpoints of the cube edges leaving the group, ordered by walking across the cube faces. Planar
 * polygons have one area whatever the triangulation; the two non-planar ones (the pentagon around
 * three corners in an L and the hexagon around a four-corner zigzag) are triangulated the way the
 * classic Lorensen-Cline table does it, which for both is the triangulation of largest area. The
 * result reproduces the official table: 13 distinct values, sum 241.34315 (see the tests).
 */

type Vec3 = readonly [number, number, number];

/** Corner position (dz, dy, dx) of official bit `b`. */
function cornerOfBit(bit: number): Vec3 {
  const j = 7 - bit;
  return [j >> 2, (j >> 1) & 1, j & 1];
}

const CORNERS: readonly Vec3[] = Array.from({ length: 8 }, (_, b) => cornerOfBit(b));

/** The 12 cube edges as pairs of bits whose corners differ in exactly one coordinate. */
const EDGES: ReadonlyArray<readonly [number, number]> = (() => {
  const edges: Array<[number, number]> = [];
  for (let a = 0; a < 8; a++) {
    for (let b = a + 1; b < 8; b++) {
      const d = CORNERS[a].reduce((n, v, i) => n + Math.abs(v - CORNERS[b][i]), 0);
      if (d === 1) edges.push([a, b]);
    }
  }
  return edges;
})();

/** The 6 cube faces, each as (axis, value): a corner lies on it when `corner[axis] === value`. */
const FACES: ReadonlyArray<readonly [number, number]> = [0, 1, 2].flatMap((axis) => [
  [axis, 0] as const,
  [axis, 1] as const,
]);

const onFace = (bit: number, [axis, value]: readonly [number, number]) => CORNERS[bit][axis] === value;

function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

function triangleArea(a: Vec3, b: Vec3, c: Vec3): number {
  const u = sub(b, a);
  const v = sub(c, a);
  const x = u[1] * v[2] - u[2] * v[1];
  const y = u[2] * v[0] - u[0] * v[2];
  const z = u[0] * v[1] - u[1] * v[0];
  return 0.5 * Math.sqrt(x * x + y * y + z * z);
}

/** Largest total area over all triangulations of a (possibly skew) polygon, by interval DP. */
function maxTriangulatedArea(polygon: readonly Vec3[]): number {
  const n = polygon.length;
  const best: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let span = 2; span < n; span++) {
    for (let i = 0; i + span < n; i++) {
      const j = i + span;
      let m = -Infinity;
      for (let k = i + 1; k < j; k++) {
        m = Math.max(m, best[i][k] + best[k][j] + triangleArea(polygon[i], polygon[k], polygon[j]));
      }
      best[i][j] = m;
    }
  }
  return best[0][n - 1];
}

/** Edge-connected groups of the corners in `set` (a bit mask of corners). */
function components(set: number): number[] {
  const groups: number[] = [];
  let left = set;
  while (left !== 0) {
    let group = left & -left;
    for (let grown = true; grown; ) {
      grown = false;
      for (const [a, b] of EDGES) {
        const ina = (group >> a) & 1;
        const inb = (group >> b) & 1;
        if (ina !== inb && ((set >> (ina ? b : a)) & 1) === 1) {
          group |= 1 << (ina ? b : a);
          grown = true;
        }
      }
    }
    groups.push(group);
    left &= ~group;
  }
  return groups;
}

/** Marching-cubes polygon around one group: midpoints of the edges leaving it, in cyclic order. */
function polygonAround(group: number): Vec3[] {
  const crossing = EDGES.filter(([a, b]) => ((group >> a) & 1) !== ((group >> b) & 1));
  // Two crossing edges are consecutive when they lie on a common face: each face the group touches
  // (but does not fill) holds exactly two of them.
  const next = new Map<number, number[]>();
  for (const face of FACES) {
    const here = crossing
      .map((e, i) => [e, i] as const)
      .filter(([[a, b]]) => onFace(a, face) && onFace(b, face))
      .map(([, i]) => i);
    if (here.length === 0) continue;
    if (here.length !== 2) throw new Error(`marching-cubes face with ${here.length} crossings`);
    const [p, q] = here;
    next.set(p, [...(next.get(p) ?? []), q]);
    next.set(q, [...(next.get(q) ?? []), p]);
  }
  const order = [0];
  for (let prev = -1, cur = 0; ; ) {
    const n = next.get(cur)!.find((v) => v !== prev)!;
    if (n === 0) break;
    order.push(n);
    prev = cur;
    cur = n;
  }
  if (order.length !== crossing.length) throw new Error('marching-cubes polygon is not one cycle');
  return order.map((i) => {
    const [a, b] = crossing[i];
    const pa = CORNERS[a];
    const pb = CORNERS[b];
    return [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2] as Vec3;
  });
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v; x !== 0; x &= x - 1) n++;
  return n;
}

/** Marching-cubes surface area (unit spacing) of the 2x2x2 configuration with neighbour code `code`. */
export function marchingCubesArea(code: number): number {
  const side = popcount(code) <= 4 ? code : ~code & 0xff;
  let area = 0;
  for (const group of components(side)) area += maxTriangulatedArea(polygonAround(group));
  return area;
}

/** Surface area at unit spacing for every neighbour code 0..255 (0 and 255 are not on a surface). */
export const SURFACE_AREA_TABLE: Float64Array = (() => {
  const table = new Float64Array(256);
  for (let code = 0; code < 256; code++) table[code] = marchingCubesArea(code);
  return table;
})();
