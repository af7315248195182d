import { MemoryVolume } from '../store/memory.ts';
import type { VolumeSource } from './sources.ts';

/**
 * The top-left y/x crop (`size` x `size`, every slice) of a labelled import source, read slice by
 * slice into memory: small real-data fixtures for tests and benchmarks.
 */
export async function cropToMemory(src: VolumeSource, size: number): Promise<MemoryVolume> {
  const [Z, , X] = src.shape;
  const image = src.dtype === 'uint16' ? new Uint16Array(Z * size * size) : new Uint8Array(Z * size * size);
  const label = new Uint8Array(Z * size * size);
  let z = 0;
  for await (const s of src.slices()) {
    for (let y = 0; y < size; y++) {
      image.set(s.image.subarray(y * X, y * X + size), (z * size + y) * size);
      label.set(s.label!.subarray(y * X, y * X + size), (z * size + y) * size);
    }
    z++;
  }
  return new MemoryVolume(src.name, [Z, size, size], image, label);
}
