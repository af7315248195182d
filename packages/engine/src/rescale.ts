/** predictScale: prediction on a resampled grid, mapped back to the volume's slices as they stream. */
import { ResampledVolume, resizePlane, sourceCoordinate, type VolumeReader } from '@capillary/volumes';

/**
 * Probability slices of the volume's grid, predicted on the volume resampled by `factor`: z slices
 * of the resampled prediction are interpolated (linearly in z, bilinearly in plane) back onto the
 * volume's slices as they stream, keeping two resampled slices.
 */
export async function* rescaledProbabilities(
  volume: VolumeReader,
  factor: number,
  probabilitiesOf: (v: VolumeReader) => AsyncGenerator<Float32Array>,
): AsyncGenerator<Float32Array> {
  const fine = new ResampledVolume(volume, factor);
  const [Z2, Y2, X2] = fine.shape;
  const [Z, Y, X] = volume.shape;
  const inner = probabilitiesOf(fine);
  const kept = new Map<number, Float32Array>();
  let read = 0;
  const slice = async (j: number) => {
    for (; read <= j; read++) kept.set(read, (await inner.next()).value as Float32Array);
    return kept.get(j)!;
  };
  try {
    for (let z = 0; z < Z; z++) {
      const u = sourceCoordinate(z, Z2, Z);
      const j0 = Math.floor(u);
      const j1 = Math.min(Z2 - 1, j0 + 1);
      const f = u - j0;
      const a = await slice(j0);
      const b = await slice(j1);
      for (const key of [...kept.keys()]) if (key < j0) kept.delete(key);
      const mixed = new Float32Array(a.length);
      for (let i = 0; i < mixed.length; i++) mixed[i] = a[i] * (1 - f) + b[i] * f;
      yield resizePlane(mixed, Y2, X2, Y, X);
    }
  } finally {
    await inner.return(undefined);
  }
}

