import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { USAGE_GROUPS, UsageReport } from '@capillary/contracts/api';
import { UsageService } from '../services/usage.ts';
import { badField } from '../services/errors.ts';
import { errors, security } from './admin-schemas.ts';

export const UsageQuery = Type.Object({
  by: Type.Enum(USAGE_GROUPS, { default: 'user', description: 'what to sum by' }),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'only attempts started at or after this time' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'only attempts started before this time' })),
});

/** What the project's training cost, from every attempt's own time. */
export default async function usageRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const usage = new UsageService(app.db);

  app.get('/usage', {
    schema: {
      summary: "The project's worker-seconds by user, sweep or dataset, split by backend, hand-overs and re-runs included (the project of x-capillary-project)",
      security,
      querystring: UsageQuery,
      response: { 200: UsageReport, ...errors },
    },
    config: { action: 'usage.read' },
  }, async (req) => {
    const { by } = req.query;
    const from = instant('from', req.query.from);
    const to = instant('to', req.query.to);
    if (from && to && from > to) throw badField('querystring/from', 'must not be after to');
    const sums = await usage.sums({ projectId: req.project!.id, by, from, to });
    return { by, from: from?.toISOString() ?? null, to: to?.toISOString() ?? null, ...sums };
  });
}

/** A date-time the schema lets through but Date or Postgres cannot hold (a leap second, year 0, past 9999 after its offset) is the caller's error. */
function instant(field: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 1 || year > 9999) throw badField(`querystring/${field}`, 'is not a time this server can read');
  return d;
}
