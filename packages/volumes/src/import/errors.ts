/** Bad import input. The message starts with the offending file (or folder) and says what is wrong. */
export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** The dataset already holds a volume of that name with other content. */
export class VolumeConflictError extends ImportError {
  override name = 'VolumeConflictError';
}

/**
 * The import stopped part-way (Ctrl-C, a crash of S3 or the network) with its uploaded chunk slabs
 * recorded: the same import run again resumes after them. `cause` is what stopped it.
 */
export class ImportInterruptedError extends Error {
  override name = 'ImportInterruptedError';
  constructor(
    readonly origin: string,
    readonly slabsDone: number,
    readonly slabs: number,
    cause: unknown,
  ) {
    super(`${origin}: import stopped (${(cause as Error)?.message ?? String(cause)}) with ${slabsDone} of ${slabs} chunk slabs stored; run the same import again to resume`, { cause });
  }
}
