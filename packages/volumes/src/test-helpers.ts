/**
 * Compares two typed arrays voxel by voxel; returns 'equal' or where they first differ. (vitest's
 * toEqual walks large typed arrays element by element through its generic equality: seconds per
 * slice.)
 */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `lengths differ: ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `differ at ${i}: ${a[i]} vs ${b[i]}`;
  return 'equal';
}
