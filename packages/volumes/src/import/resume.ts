import { createHash } from 'node:crypto';
import { importManifestKey, deletePrefix, getObject, putObject } from '@capillary/storage';
import type { VolumeDtype } from '../types.ts';

export type ArrayName = 'image' | 'label' | 'mask';

/** What an import is writing: a manifest of another import (other content or chunking) is not resumed. */
export interface ImportPlan {
  contentHash: string;
  shape: [number, number, number];
  chunkShape: [number, number, number];
  dtype: VolumeDtype;
  arrays: ArrayName[];
}

/** The object under an import's prefix recording how far it got. */
export interface ImportManifest extends ImportPlan {
  version: 1;
  /** Chunk slabs (chunk-depth runs of z slices, from the first) whose chunks are stored in every array. */
  slabsDone: number;
  /** Stored chunk bytes of those slabs per array: the arrays' compression ratios need the total. */
  chunkBytes: Partial<Record<ArrayName, number>>;
}

/**
 * The id of an import's prefix: the same dataset, volume name, content and chunking always map to
 * the same prefix, so running an interrupted import again finds what it had uploaded.
 */
export function importId(dataset: string, name: string, plan: Pick<ImportPlan, 'contentHash' | 'chunkShape'>): string {
  return createHash('sha256')
    .update(JSON.stringify(['capillary-import-v1', dataset, name, plan.contentHash, plan.chunkShape]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Reads and advances an import's manifest. A slab is recorded only once every array has stored all
 * its chunks (the writers report that), and records only ever move forward, so a crash at any point
 * leaves a manifest that understates, never overstates, what is stored.
 */
export class ResumeLog {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly prefix: string,
    private manifest: ImportManifest,
    /** Slabs found done when the import started (0 for a fresh import). */
    readonly resumedSlabs: number,
  ) {}

  /**
   * Opens the prefix's manifest. One that matches `plan` is resumed; a missing one starts from 0
   * (chunks a crashed run stored before its first record are simply written again); one that does
   * not match (an older format) has its prefix cleared first, since no row can point at it.
   */
  static async open(prefix: string, plan: ImportPlan): Promise<ResumeLog> {
    const fresh: ImportManifest = { version: 1, ...plan, slabsDone: 0, chunkBytes: {} };
    const bytes = await getObject(importManifestKey(prefix));
    if (!bytes) return new ResumeLog(prefix, fresh, 0);
    let found: ImportManifest | undefined;
    try {
      found = JSON.parse(new TextDecoder().decode(bytes)) as ImportManifest;
    } catch {
      found = undefined;
    }
    const samePlan = (Object.keys(plan) as (keyof ImportPlan)[]).every((k) => JSON.stringify(found?.[k]) === JSON.stringify(plan[k]));
    if (found?.version === 1 && samePlan && Number.isInteger(found.slabsDone)) {
      return new ResumeLog(prefix, { ...fresh, slabsDone: found.slabsDone, chunkBytes: found.chunkBytes ?? {} }, found.slabsDone);
    }
    await deletePrefix(`${prefix}/`);
    return new ResumeLog(prefix, fresh, 0);
  }

  get slabsDone(): number {
    return this.manifest.slabsDone;
  }

  chunkBytes(array: ArrayName): number {
    return this.manifest.chunkBytes[array] ?? 0;
  }

  /** Records that the first `slabs` slabs are stored, with their bytes per array; a step back is ignored. */
  record(slabs: number, chunkBytes: Partial<Record<ArrayName, number>>): Promise<void> {
    if (slabs <= this.manifest.slabsDone) return this.writing;
    this.manifest = { ...this.manifest, slabsDone: slabs, chunkBytes };
    const body = JSON.stringify(this.manifest);
    // Chained, so an older record can never land after a newer one.
    this.writing = this.writing.catch(() => undefined).then(() => putObject(importManifestKey(this.prefix), body, 'application/json'));
    return this.writing;
  }
}
