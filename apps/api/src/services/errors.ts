import type { FieldIssue } from '@capillary/contracts';

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

/** A 400 for one bad field: the message names the field, the issue carries it for forms. */
export const badField = (field: string, message: string) => new HttpError(400, `${field.replace(/^\//, '')}: ${message}`, [{ field, message }]);

/** A 400 listing every broken rule of a submitted object. */
export const invalid = (what: string, issues: FieldIssue[]) =>
  new HttpError(400, `${what} is invalid: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`, issues);
