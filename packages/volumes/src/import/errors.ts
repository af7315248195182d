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
