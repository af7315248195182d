import fp from 'fastify-plugin';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every mutating request, refused ones included, as one row of the append-only AuditEntry table:
 * who (user, key, how signed in), what (action, route, resource id), where (project) and the
 * status it got. Written after the reply, so it costs the caller no latency; a failed write is
 * logged with its error, never dropped silently.
 */
export default fp(async (app) => {
  app.addHook('onResponse', async (req, reply) => {
    if (READS.has(req.method)) return;
    const principal = req.principal;
    const params = (req.params ?? {}) as Record<string, unknown>;
    const resourceId = [params.id, params.name, params.user].find((v): v is string => typeof v === 'string') ?? null;
    await app.db.auditEntry.create({
      data: {
        userId: principal?.userId ?? null,
        apiKeyId: principal?.keyId ?? null,
        via: principal?.via ?? 'none',
        method: req.method,
        route: req.routeOptions.url ?? req.url.slice(0, 200),
        action: req.routeOptions.config.action ?? 'none',
        resourceId: resourceId?.slice(0, 200) ?? null,
        projectId: req.project?.id ?? null,
        statusCode: reply.statusCode,
        ip: req.ip,
      },
    }).catch((err: Error) => req.log.error({ err: err.message, method: req.method, url: req.url }, 'audit entry not written'));
  });
}, { name: 'audit', dependencies: ['auth'] });
