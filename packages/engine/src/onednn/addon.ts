/**
 * Loads the oneDNN Node-API addon (`packages/engine/native`, built by `scripts/setup.mjs` with
 * node-gyp against Debian's libdnnl-dev). Where it is missing or cannot load, `onednnAddon()` is
 * undefined and `onednnUnavailableReason()` says why.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions (see native/src/addon.cc). Arrays are views of the wasm heap. */
export interface OnednnAddon {
  /** y = [relu](conv(x, w) + bias); returns the oneDNN implementation's name. */
  conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, geometry: Int32Array, relu: boolean): string;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, geometry: Int32Array): string;
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array): string;
  /** Max-pool gradient (NHWC); geometry [n, h, w, c, fh, fw, ho, wo, sh, sw, padTop, padLeft]. */
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: Int32Array): void;
  /** Per-channel means of x and x^2 into out[0..c) and out[c..2c). */
  bnMoments(x: Float32Array, c: number, out: Float32Array): void;
  /** Means of dz and dz * y, dz = gate > 0 ? dy : 0 (no gate: dy). */
  bnGradMoments(dy: Float32Array, gate: Float32Array | null, y: Float32Array, c: number, out: Float32Array): void;
  /** out = [relu](x * scale + shift). */
  bnApply(x: Float32Array, scale: Float32Array, shift: Float32Array, relu: boolean, out: Float32Array): void;
  /** out = dz * a + y * b + k, dz as in bnGradMoments. */
  bnGrad(dy: Float32Array, gate: Float32Array | null, y: Float32Array, a: Float32Array, b: Float32Array, k: Float32Array, out: Float32Array): void;
  setThreads(n: number): void;
  info(): { version: string; isa: string; threads: number };
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where node-gyp puts the addon. */
export const ADDON_PATH = path.resolve(here, '../../native/build/Release/capillary_onednn.node');

let loaded: OnednnAddon | undefined;
let reason: string | undefined;

function load(): void {
  if (loaded || reason) return;
  if (process.env.CAPILLARY_ONEDNN === '0') {
    reason = 'disabled by CAPILLARY_ONEDNN=0';
    return;
  }
  if (!existsSync(ADDON_PATH)) {
    reason = `the addon is not built (${ADDON_PATH} is missing: install libdnnl-dev and run node scripts/setup.mjs)`;
    return;
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as OnednnAddon;
  } catch (e) {
    reason = `the addon does not load: ${(e as Error).message.split('\n')[0]}`;
  }
}

export function onednnAddon(): OnednnAddon | undefined {
  load();
  return loaded;
}

/** Why the addon is unavailable (undefined when it loaded). */
export function onednnUnavailableReason(): string | undefined {
  load();
  return reason;
}
