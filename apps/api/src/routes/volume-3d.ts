// Helpers of routes/volumes.ts: the small 3D volumes behind the dashboard's 3D view.

/**
 * Max-pools a binary volume by one integer factor on every axis so its longest side is at most
 * `size`: a block with any vessel voxel stays vessel, so thin vessels survive downsampling.
 * Reads z windows a chunk depth or more at a time (whole multiples of the factor) and keeps only the
 * small output, never the volume.
 */
export async function downsampleMax(
  shape: readonly [number, number, number],
  size: number,
  read: (start: number, count: number) => Promise<Uint8Array | Uint16Array>,
): Promise<{ data: Uint8Array; shape: [number, number, number]; factor: number }> {
  const [Z, Y, X] = shape;
  const f = Math.max(1, Math.ceil(Math.max(Z, Y, X) / size));
  const oz = Math.ceil(Z / f);
  const oy = Math.ceil(Y / f);
  const ox = Math.ceil(X / f);
  const out = new Uint8Array(oz * oy * ox);
  // Column index of each x and row index of each y in the output, computed once.
  const xo = new Int32Array(X);
  for (let x = 0; x < X; x++) xo[x] = Math.floor(x / f);
  const step = f * Math.max(1, Math.ceil(32 / f));
  for (let z0 = 0; z0 < Z; z0 += step) {
    const count = Math.min(step, Z - z0);
    const win = await read(z0, count);
    for (let k = 0; k < count; k++) {
      const plane = Math.floor((z0 + k) / f) * oy * ox;
      for (let y = 0; y < Y; y++) {
        const rowOut = plane + Math.floor(y / f) * ox;
        const rowIn = (k * Y + y) * X;
        for (let x = 0; x < X; x++) if (win[rowIn + x]) out[rowOut + xo[x]] = 1;
      }
    }
  }
  return { data: out, shape: [oz, oy, ox], factor: f };
}

/**
 * A NIfTI-1 file (.nii, single file) of a uint8 C-order [z, y, x] array: NIfTI's x runs fastest,
 * which is the same memory order. `spacingMm` is [z, y, x].
 */
export function niftiUint8(data: Uint8Array, shape: readonly [number, number, number], spacingMm: readonly [number, number, number]): Uint8Array {
  const [Z, Y, X] = shape;
  const [dz, dy, dx] = spacingMm;
  const offset = 352;
  const file = new Uint8Array(offset + data.length);
  const v = new DataView(file.buffer);
  v.setInt32(0, 348, true); // sizeof_hdr
  const dims = [3, X, Y, Z, 1, 1, 1, 1];
  dims.forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(70, 2, true); // datatype: DT_UNSIGNED_CHAR
  v.setInt16(72, 8, true); // bitpix
  const pixdim = [1, dx, dy, dz, 1, 1, 1, 1];
  pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, true));
  v.setFloat32(108, offset, true); // vox_offset
  v.setFloat32(112, 1, true); // scl_slope
  v.setFloat32(124, 1, true); // cal_max
  file[123] = 2; // xyzt_units: millimetres
  v.setInt16(254, 1, true); // sform_code: scanner
  // sform: voxel index -> millimetres, a plain scaling.
  [dx, 0, 0, 0].forEach((s, i) => v.setFloat32(280 + 4 * i, s, true));
  [0, dy, 0, 0].forEach((s, i) => v.setFloat32(296 + 4 * i, s, true));
  [0, 0, dz, 0].forEach((s, i) => v.setFloat32(312 + 4 * i, s, true));
  file.set([0x6e, 0x2b, 0x31, 0], 344); // magic "n+1\0"
  file.set(data, offset);
  return file;
}
