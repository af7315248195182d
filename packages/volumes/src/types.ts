/** Axis a slice window is taken along: z gives xy slices, y gives xz slices, x gives yz slices. */
export type Axis = 'z' | 'y' | 'x';

/** Intensity statistics computed once at import, used to normalise every read of the volume. */
export interface VolumeStats {
  p005: number; // 0.5th percentile
  p995: number; // 99.5th percentile
  mean: number;
  std: number;
  /** Share of labelled voxels that are vessel (null when the volume has no labels). */
  foregroundFraction: number | null;
}

export type VolumeDtype = 'uint8' | 'uint16';

/**
 * Read access to one 3D volume, never holding all of it: every read returns a window of
 * neighbouring slices along one axis, in C order [count, rows, cols] of that orientation
 * (axis z -> [count, Y, X], axis y -> [count, Z, X], axis x -> [count, Z, Y]).
 */
export interface VolumeReader {
  readonly id: string;
  /** [Z, Y, X] */
  readonly shape: readonly [number, number, number];
  readonly dtype: VolumeDtype;
  readonly hasLabels: boolean;
  readonly stats: VolumeStats;
  readImage(axis: Axis, start: number, count: number): Promise<Uint8Array | Uint16Array>;
  /** 0/1 labels of the same window; throws when the volume has no labels. */
  readLabel(axis: Axis, start: number, count: number): Promise<Uint8Array>;
  /**
   * Image voxels of a box inside the volume, C order [z1-z0, y1-y0, x1-x0]. Optional: readers that
   * fetch by chunk implement it so a tile touches only the chunks it needs; {@link readBox} falls
   * back to whole-slice windows otherwise.
   */
  readImageBox?(box: Box): Promise<Uint8Array | Uint16Array>;
  /** 0/1 labels of a box, C order; throws when the volume has no labels. */
  readLabelBox?(box: Box): Promise<Uint8Array>;
  /** Where the labelled voxels are, for foreground-biased sampling (computed at import when stored). */
  foregroundIndex?(): Promise<ForegroundIndex>;
  /** The volume has a field-of-view mask (2D sources such as DRIVE); scores count only voxels inside it. */
  readonly hasMask?: boolean;
  /** 0/1 field-of-view mask of the same window; throws when the volume has none. */
  readMask?(axis: Axis, start: number, count: number): Promise<Uint8Array>;
}


/** A half-open voxel box [z0, z1) x [y0, y1) x [x0, x1). */
export interface Box {
  z0: number;
  z1: number;
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/**
 * A coarse map of labelled voxels: the volume is cut into cubes of `cellSize` voxels; for each cube
 * holding any vessel voxel it keeps the count and one vessel voxel drawn uniformly (reservoir
 * sampling). Small enough to store beside a kidney (tens of thousands of cells).
 */
export interface ForegroundIndex {
  cellSize: number;
  /** [z, y, x] of one labelled voxel per non-empty cell, flattened (3 numbers per cell). */
  voxels: number[];
  /** Labelled voxels in each non-empty cell, same order. */
  counts: number[];
}

/** Shape [count, rows, cols] of a window along an axis. */
export function windowShape(shape: readonly [number, number, number], axis: Axis, count: number): [number, number, number] {
  const [z, y, x] = shape;
  if (axis === 'z') return [count, y, x];
  if (axis === 'y') return [count, z, x];
  return [count, z, y];
}

/** Number of slices along an axis. */
export function axisLength(shape: readonly [number, number, number], axis: Axis): number {
  return axis === 'z' ? shape[0] : axis === 'y' ? shape[1] : shape[2];
}
