import { createHash } from 'node:crypto';
import { HttpError } from './errors.ts';

/** JSON with object keys sorted, so the same spec always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * sha256 of the validated spec (defaults filled): two bodies that ask for the same run hash alike,
 * whatever their key order or spelled-out defaults.
 */
export const requestHashOf = (spec: unknown) => createHash('sha256').update(canonicalJson(spec)).digest('hex');

export const IDEMPOTENCY_FIELD = 'headers/idempotency-key';

/** A key reused with another body: a client bug, answered 422 rather than replaying the wrong run. */
export function idempotencyConflict(key: string, experimentId: string) {
  const message = `was first used with another body (experiment ${experimentId}); send a new key for a new request`;
  return new HttpError(422, `${IDEMPOTENCY_FIELD}: "${key.slice(0, 200)}" ${message}`, [{ field: IDEMPOTENCY_FIELD, message }]);
}
