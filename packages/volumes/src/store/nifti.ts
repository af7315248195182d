// NIfTI-1, the single-file format NiiVue (the dashboard's 3D view) reads.

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
