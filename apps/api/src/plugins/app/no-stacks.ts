import fp from 'fastify-plugin';
import { firstLine } from '../../services/views.ts';

/** Deep enough for `{ items: [{ errorMessage }] }` and `{ experiments: [...] }`; payloads are not deeper. */
const MAX_DEPTH = 4;

function trimErrorMessages(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH || !value || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (Array.isArray(value)) {
    for (const v of value) trimErrorMessages(v, depth + 1);
    return;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k === 'errorMessage' && typeof o[k] === 'string') o[k] = firstLine(o[k] as string);
    else trimErrorMessages(o[k], depth + 1);
  }
}

/**
 * A stored error message keeps the worker's stack below its first line; only that first line is
 * answered, on every route (the stack is in the worker's log). Views already trim; this hook is the
 * guarantee for routes that send rows as they are.
 */
export default fp(async (app) => {
  app.addHook('preSerialization', async (_req, _reply, payload) => {
    trimErrorMessages(payload, 0);
    return payload;
  });
}, { name: 'no-stacks' });
