// Packing trials by memory: a worker admits a training trial only while the estimated step memory
// of the trials it runs, plus this one, fits its capacity (WORKER_MEMORY_MB).

/** Why a trial was not admitted: larger than the whole capacity, or larger than what is free now. */
export type Admission = { admitted: true } | { admitted: false; reason: 'never' | 'not-now'; estimateMB: number; capacityMB: number; inUseMB: number };

/**
 * The memory ledger of one worker: which trials it runs and the step memory each was estimated to
 * need. Admission is synchronous, so two jobs fetched back to back can never both take the last
 * free megabytes.
 */
export class MemoryGate {
  private readonly held = new Map<string, number>();

  constructor(readonly capacityMB: number) {}

  /** The estimated memory of the trials admitted and not yet released, in MB. */
  get inUseMB(): number {
    let sum = 0;
    for (const mb of this.held.values()) sum += mb;
    return sum;
  }

  /** Trials admitted and not yet released. */
  get count(): number {
    return this.held.size;
  }

  /** Admits `id` when `estimateMB` fits beside what runs now; a trial over the whole capacity never is. */
  admit(id: string, estimateMB: number): Admission {
    const inUseMB = this.inUseMB;
    if (estimateMB > this.capacityMB) return { admitted: false, reason: 'never', estimateMB, capacityMB: this.capacityMB, inUseMB };
    if (inUseMB + estimateMB > this.capacityMB) return { admitted: false, reason: 'not-now', estimateMB, capacityMB: this.capacityMB, inUseMB };
    this.held.set(id, estimateMB);
    return { admitted: true };
  }

  /** The trial ended (however it ended): its memory is free again. Returns whether it was held. */
  release(id: string): boolean {
    return this.held.delete(id);
  }
}
