import type { FieldIssue } from '@capillary/contracts';
import { NotRunnableError, TransitionError } from '@capillary/registry';

/** An error the API turns into a 4xx response with a message and, when known, the bad fields. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly issues?: FieldIssue[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/**
 * A cancel the registry refused, as HTTP: a run it does not know is a 404, one already ended a 409.
 * Any other error is not the caller's and goes on as it is.
 */
export async function cancelled<T>(what: string, cancel: () => Promise<T>): Promise<T> {
  try {
    return await cancel();
  } catch (e) {
    if (e instanceof NotRunnableError) throw notFound(what);
    if (e instanceof TransitionError) throw new HttpError(409, `${what} already ${e.from}`);
    throw e;
  }
}

/** A 400 for one bad field: the message names the field, the issue carries it for forms. */
export const badField = (field: string, message: string) => new HttpError(400, `${field.replace(/^\//, '')}: ${message}`, [{ field, message }]);

/** A 400 listing every broken rule of a submitted object. */
export const invalid = (what: string, issues: FieldIssue[]) =>
  new HttpError(400, `${what} is invalid: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`, issues);
