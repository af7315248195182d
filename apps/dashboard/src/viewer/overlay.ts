/** Overlay colours: agreement green, extra prediction red, missed vessel blue; truth alone amber. */
export const COLORS = {
  tp: [46, 204, 64],
  fp: [255, 65, 54],
  fn: [0, 116, 217],
  truth: [255, 190, 0],
} as const;

export interface OverlayOptions {
  /** Opacity of the overlay colours, 0..1. */
  alpha: number;
  showImage: boolean;
  showTruth: boolean;
  showPrediction: boolean;
}

export interface OverlayCounts {
  tp: number;
  fp: number;
  fn: number;
}

// One 256-entry table per class: the blended RGBA of every grey level, packed as a little-endian
// uint32, so each pixel costs one lookup and one store.
let tables: { key: string; grey: Uint32Array; tp: Uint32Array; fp: Uint32Array; fn: Uint32Array; truth: Uint32Array } | null = null;

function pack(r: number, g: number, b: number): number {
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function lookupTables(alpha: number, showImage: boolean) {
  const key = `${alpha}:${showImage}`;
  if (tables?.key === key) return tables;
  const make = (c: readonly number[] | null) => {
    const t = new Uint32Array(256);
    for (let v = 0; v < 256; v++) {
      const g = showImage ? v : 0;
      t[v] = c ? pack(Math.round(g * (1 - alpha) + c[0] * alpha), Math.round(g * (1 - alpha) + c[1] * alpha), Math.round(g * (1 - alpha) + c[2] * alpha)) : pack(g, g, g);
    }
    return t;
  };
  tables = { key, grey: make(null), tp: make(COLORS.tp), fp: make(COLORS.fp), fn: make(COLORS.fn), truth: make(COLORS.truth) };
  return tables;
}

/**
 * Draws one slice into RGBA pixels: the grey image with truth and prediction coloured as true
 * positives, false positives and false negatives (or the truth alone when there is no prediction).
 * Returns the counts of each class over the slice.
 */
export function composeOverlay(
  image: Uint8Array,
  truth: Uint8Array | null,
  prediction: Uint8Array | null,
  out: Uint8ClampedArray,
  opts: OverlayOptions,
): OverlayCounts {
  const n = image.length;
  if (out.length < n * 4) throw new RangeError(`output holds ${out.length / 4} pixels, slice has ${n}`);
  const px = new Uint32Array(out.buffer, out.byteOffset, n);
  const t = lookupTables(opts.alpha, opts.showImage);
  const T = opts.showTruth ? truth : null;
  const P = opts.showPrediction ? prediction : null;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  if (T && P) {
    for (let i = 0; i < n; i++) {
      const a = T[i] !== 0;
      const b = P[i] !== 0;
      if (a && b) {
        px[i] = t.tp[image[i]];
        tp++;
      } else if (b) {
        px[i] = t.fp[image[i]];
        fp++;
      } else if (a) {
        px[i] = t.fn[image[i]];
        fn++;
      } else px[i] = t.grey[image[i]];
    }
  } else if (T || P) {
    const M = (T ?? P)!;
    const colour = T ? t.truth : t.fp;
    for (let i = 0; i < n; i++) px[i] = M[i] !== 0 ? colour[image[i]] : t.grey[image[i]];
  } else {
    for (let i = 0; i < n; i++) px[i] = t.grey[image[i]];
  }
  return { tp, fp, fn };
}

/** Dice of one slice from its counts (null when both masks are empty). */
export function sliceDice(c: OverlayCounts): number | null {
  const d = 2 * c.tp + c.fp + c.fn;
  return d === 0 ? null : (2 * c.tp) / d;
}
