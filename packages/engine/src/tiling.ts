/** Sliding-window geometry and blending weights for tiled inference. */

/** Tile start offsets covering [0, length) with tiles of `tile` and the given overlap share. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const stride = Math.max(1, Math.round(tile * (1 - overlap)));
  const starts: number[] = [];
  for (let s = 0; s + tile < length; s += stride) starts.push(s);
  starts.push(length - tile);
  return starts;
}

/**
 * Separable blending weights for one tile: a raised cosine that is never zero, so every pixel has
 * weight and seams between overlapping tiles fade smoothly.
 */
export function blendWeights(tile: number): Float32Array {
  const w1 = Float32Array.from({ length: tile }, (_, i) => 0.02 + 0.98 * Math.sin((Math.PI * (i + 0.5)) / tile) ** 2);
  const w = new Float32Array(tile * tile);
  for (let r = 0; r < tile; r++) for (let c = 0; c < tile; c++) w[r * tile + c] = w1[r] * w1[c];
  return w;
}
