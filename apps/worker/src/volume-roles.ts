// Which volumes of a dataset train, validate or are scored at the end: the split roles, read by
// the training job and by the end-of-training scoring alike.
import { UnrecoverableError } from 'bullmq';
import type { VolumeRef } from '@capillary/contracts';

/** Split roles scored at the end of training; neither ever trains or validates. */
export const TEST_ROLES = ['public_test', 'private_test'] as const;
export const isTestRole = (role: string) => (TEST_ROLES as readonly string[]).includes(role);

export function volumeRef(v: { id: string; name: string; role: string; imageKey: string; labelKey: string | null; maskKey: string | null; dtype: string; depth: number; height: number; width: number; stats: unknown }): VolumeRef {
  const { id, name, role, imageKey, labelKey, maskKey, dtype, depth, height, width, stats } = v;
  return { id, name, role, imageKey, labelKey, maskKey, dtype, depth, height, width, stats };
}

export type VolumeRow = Parameters<typeof volumeRef>[0];

/**
 * Training and validation volumes: the named ones validate and the other labelled ones train, or,
 * without names, the volumes' split roles decide. Public- and private-test volumes never train or
 * validate (they are scored at the end). A name the dataset lacks, or a test volume's, is a bad spec.
 */
export function splitVolumes(volumes: VolumeRow[], validationNames?: string[]) {
  const labelled = volumes.filter((v) => v.labelKey && !isTestRole(v.role));
  if (validationNames?.length) {
    const missing = validationNames.filter((n) => !volumes.some((v) => v.name === n));
    if (missing.length) throw new UnrecoverableError(`spec.validationVolumes: no volume named ${missing.join(', ')} in the dataset`);
    const tests = validationNames.filter((n) => volumes.some((v) => v.name === n && isTestRole(v.role)));
    if (tests.length) throw new UnrecoverableError(`spec.validationVolumes: ${tests.join(', ')} ${tests.length > 1 ? 'are test volumes' : 'is a test volume'}, scored only at the end`);
    return {
      trainRefs: labelled.filter((v) => !validationNames.includes(v.name)).map(volumeRef),
      validationRefs: labelled.filter((v) => validationNames.includes(v.name)).map(volumeRef),
    };
  }
  return {
    trainRefs: labelled.filter((v) => v.role === 'train').map(volumeRef),
    validationRefs: labelled.filter((v) => v.role === 'validation').map(volumeRef),
  };
}
