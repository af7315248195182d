import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { LeaderboardRow } from '../schemas.ts';

const Query = Type.Object({
  sweepId: Type.Optional(Type.String({ format: 'uuid' })),
  limit: Type.Integer({ minimum: 1, maximum: 5000, default: 1000 }),
});

export default async function leaderboardRoutes(app: FastifyInstance) {
  app.get('/leaderboard', {
    schema: {
      summary: 'Experiments ranked by best validation surface Dice (ties: earlier finish first)',
      querystring: Query,
      response: { 200: Type.Object({ rows: Type.Array(LeaderboardRow) }) },
    },
  }, async (req) => ({ rows: await app.experiments.leaderboard(req.query as Static<typeof Query>) }));
}
