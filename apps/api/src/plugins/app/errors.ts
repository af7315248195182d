import fp from 'fastify-plugin';
import { isInfrastructureError, ValidationError } from '@capillary/contracts';
import { HttpError } from '../../services/errors.ts';

/**
 * The one error handler: every failure leaves as `{ statusCode, error, message, issues? }`, where
 * `issues` names each bad field. Server faults are logged and answered without internals.
 */
export default fp(async (app) => {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validationContext?: string }, req, reply) => {
    if (err instanceof ValidationError) {
      const where = (err as { validationContext?: string }).validationContext ?? 'body';
      const issues = err.issues.map((i) => ({ field: `${where}${i.field}`, message: i.message }));
      return reply.status(400).send({
        statusCode: 400,
        error: 'Bad Request',
        message: issues.map((i) => `${i.field} ${i.message}`).join('; '),
        issues,
      });
    }
    if (err instanceof HttpError) {
      return reply.status(err.statusCode).send({ statusCode: err.statusCode, error: errorName(err.statusCode), message: err.message, issues: err.issues });
    }
    // A registered volume whose arrays are gone from the store (zarrita's NotFoundError); the path names
    // the volume, since zarrita's message names only the array.
    if ((err as { _tag?: string })._tag === 'NotFoundError') {
      return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `the stored array behind ${req.method} ${req.url.split('?')[0]} is missing: ${err.message}` });
    }
    // A database, Redis or S3 that does not answer is an outage, not a bug: 503, and try again.
    if (isInfrastructureError(err)) {
      req.log.warn({ err: err.message }, 'a service is unreachable');
      return reply.status(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: 'a service Capillary depends on is unreachable; GET /health says which; try again shortly' });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err }, 'request failed');
      return reply.status(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
    }
    // Fastify's own client errors: bad JSON, body too large, unsupported media type... each named by
    // the part of the request at fault.
    const message =
      err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `content-type: ${err.message}; send application/json`
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? `params: a path parameter is too long (${req.url.slice(0, 120)}...)`
      : err.message;
    return reply.status(status).send({ statusCode: status, error: errorName(status), message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${req.url}` });
  });
}, { name: 'errors' });

function errorName(status: number): string {
  return ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 503: 'Service Unavailable' } as Record<number, string>)[status] ?? 'Error';
}
