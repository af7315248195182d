import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, LeaderboardRow } from '@capillary/contracts/api';

export const LeaderboardQuery = Type.Object({
  sweepId: Type.Optional(Type.String({ format: 'uuid' })),
  limit: Type.Integer({ minimum: 1, maximum: 5000, default: 1000 }),
});

export default async function leaderboardRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/leaderboard', {
    schema: {
      summary: 'Experiments ranked by best validation surface Dice (ties: earlier finish first)',
      querystring: LeaderboardQuery,
      response: { 200: Type.Object({ rows: Type.Array(LeaderboardRow) }, { additionalProperties: false }), 400: ErrorBody },
    },
    config: { action: 'experiment.list' },
  }, async (req) => ({ rows: await app.experiments.leaderboard({ ...req.query, projectId: req.project!.id }) }));
}
