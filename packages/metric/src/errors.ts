/** A malformed run-length encoding. `position` is the character offset of the problem, when known. */
export class RleError extends Error {
  override name = 'RleError';
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(message);
  }
}

/** Masks of the wrong size, or a stream used after it was finished. */
export class MetricInputError extends Error {
  override name = 'MetricInputError';
}

/** A bad solution or submission file; the message names the file and, where known, the line. */
export class ScoringInputError extends Error {
  override name = 'ScoringInputError';
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}: line ${line}: ${message}`);
  }
}
