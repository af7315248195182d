/** Thrown when training or prediction stops because its AbortSignal fired. */
export class AbortError extends Error {
  override name = 'AbortError' as const;
  constructor(message = 'aborted') {
    super(message);
  }
}

/** The experiment spec cannot be trained as given (names the field and the problem). */
export class SpecError extends Error {
  override name = 'SpecError';
}
