/**
 * Sharded prediction: the planes of each axis cut into ranges that separate workers predict, and
 * the source that reads their 16-bit planes back along z for the one merge (`finishVolume`).
 */
import type { Axis } from '@capillary/volumes';
import { addPlanesToSlice, READ_AXIS, type AxisSource } from './axis-sources.ts';
import type { PlaneAxis, PlaneRange } from './predict.ts';

/** [planes, rows, cols] of one plane axis on a grid [Z, Y, X]: a shard's array is shaped so. */
export function planeShape(grid: readonly [number, number, number], plane: PlaneAxis): [number, number, number] {
  const [Z, Y, X] = grid;
  if (plane === 'xy') return [Z, Y, X];
  if (plane === 'xz') return [Y, Z, X];
  return [X, Z, Y];
}

/** Planes and voxels of one axis on a grid [Z, Y, X]. */
function axisPlanes(grid: readonly [number, number, number], plane: PlaneAxis): { planes: number; voxels: number } {
  const [planes, rows, cols] = planeShape(grid, plane);
  return { planes, voxels: rows * cols };
}

/** Voxel passes through the network a prediction needs (TTA: four a voxel), the unit of shard size. */
export function predictionCost(grid: readonly [number, number, number], axes: readonly PlaneAxis[], tta: boolean): number {
  return axes.reduce((sum, a) => sum + axisPlanes(grid, a).planes * axisPlanes(grid, a).voxels, 0) * (tta ? 4 : 1);
}

/**
 * Cuts every axis into plane ranges of at most `maxPasses` voxel passes each (at least one plane),
 * as even as they can be, in the axes' order.
 */
export function planShards(grid: readonly [number, number, number], axes: readonly PlaneAxis[], tta: boolean, maxPasses: number): PlaneRange[] {
  const shards: PlaneRange[] = [];
  for (const plane of axes) {
    const { planes, voxels } = axisPlanes(grid, plane);
    const perPlane = voxels * (tta ? 4 : 1);
    const count = Math.min(planes, Math.max(1, Math.ceil((planes * perPlane) / maxPasses)));
    for (let i = 0; i < count; i++) shards.push({ plane, start: Math.floor((i * planes) / count), end: Math.floor(((i + 1) * planes) / count) });
  }
  return shards;
}

/** One shard's stored planes, as the merge reads them. */
export interface ShardPlanes {
  start: number;
  end: number;
  /**
   * For xz and yz: row `z` of each of its planes, [end - start, cols]. For xy: plane `z` itself
   * ([Y, X]; z lies inside the shard).
   */
  readRow(z: number): Promise<Uint16Array>;
}

/** One axis's probabilities read back from its shards (in plane order) along z. */
export class ShardedAxisSource implements AxisSource {
  private readonly axis: Axis;
  constructor(
    plane: PlaneAxis,
    private readonly shards: ShardPlanes[],
    private readonly Y: number,
    private readonly X: number,
  ) {
    this.axis = READ_AXIS[plane];
  }
  async addSlice(z: number, into: Float32Array): Promise<void> {
    if (this.axis === 'z') {
      const s = this.shards.find((s) => z >= s.start && z < s.end);
      if (!s) throw new RangeError(`no shard holds xy plane ${z}`);
      return addPlanesToSlice('z', 0, 1, await s.readRow(z), into, this.Y, this.X);
    }
    // Rows of every shard fetched at once, added in plane order (the order of a one-worker spill).
    const rows = await Promise.all(this.shards.map((s) => s.readRow(z)));
    this.shards.forEach((s, i) => addPlanesToSlice(this.axis, s.start, s.end - s.start, rows[i], into, this.Y, this.X));
  }
  close(): void {}
}
