import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

export default async function datasetRoutes(app: FastifyInstance) {
  app.get('/datasets', {
    schema: {
      summary: 'Registered datasets and their volumes',
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({
            id: Type.String(),
            name: Type.String(),
            description: Type.Union([Type.String(), Type.Null()]),
            volumes: Type.Array(Type.Object({
              id: Type.String(), name: Type.String(), role: Type.String(), dtype: Type.String(),
              depth: Type.Integer(), height: Type.Integer(), width: Type.Integer(), hasLabels: Type.Boolean(),
            })),
          })),
        }),
      },
    },
  }, async () => {
    const rows = await app.db.dataset.findMany({ orderBy: { name: 'asc' }, include: { volumes: { orderBy: { name: 'asc' } } } });
    return {
      items: rows.map((d) => ({
        id: d.id, name: d.name, description: d.description,
        volumes: d.volumes.map((v) => ({ id: v.id, name: v.name, role: v.role, dtype: v.dtype, depth: v.depth, height: v.height, width: v.width, hasLabels: !!v.labelKey })),
      })),
    };
  });
}
