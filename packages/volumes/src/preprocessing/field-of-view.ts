import type { VolumeReader } from '../types.ts';

/**
 * Zeroes the label and mask slices \`z\` of \`v\` outside its field of view (in place), so that a
 * score of the pair counts only the voxels inside it (DRIVE's F1 is defined inside the FOV).
 * Returns the FOV slice it applied, or null for a volume without a mask (left as it is).
 */
export async function clipToFieldOfView(v: VolumeReader, z: number, truth: Uint8Array, mask: Uint8Array): Promise<Uint8Array | null> {
  if (!v.hasMask || !v.readMask) return null;
  const inside = await v.readMask('z', z, 1);
  for (let i = 0; i < inside.length; i++) {
    if (!inside[i]) {
      truth[i] = 0;
      mask[i] = 0;
    }
  }
  return inside;
}
