import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Env } from '@capillary/contracts';
import { ErrorBody } from '@capillary/contracts/api';

/** A binary body (application/octet-stream). */
const Bytes = Type.Unsafe<Buffer>(Type.String({ format: 'binary' }));

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Volume3dQuery = Type.Object({
  layer: Type.Enum(['label', 'prediction']),
  predictionId: Type.Optional(Type.String({ format: 'uuid', description: 'Required for layer=prediction; ignored for labels' })),
  size: Type.Integer({ minimum: 16, maximum: 256, default: 128, description: 'Largest side of the downsampled volume' }),
});

/**
 * The 3D view's volumes: labels or a predicted mask, max-pooled. Each array is scanned once, ever
 * (its preview is stored beside it in S3); every size is pooled from that preview.
 */
export default async function volume3dRoutes(fastify: FastifyInstance, opts: { env: Env }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/volumes/:id/volume3d', {
    schema: {
      summary: 'Labels or a predicted mask, max-pooled by a whole factor so its longest side is at most `size`, as a uint8 NIfTI-1 file (for the 3D view)',
      params: IdParams,
      querystring: Volume3dQuery,
      response: { 200: Bytes, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
    config: { rateLimit: { max: opts.env.VOLUME3D_RATE_LIMIT_MAX, timeWindow: '1 minute' }, action: 'volume.read' },
  }, async (req, reply) => {
    const { layer, predictionId, size } = req.query;
    const row = await app.viewer.volume(req.params.id);
    const file = await app.viewer.volume3d(row, layer, layer === 'prediction' ? predictionId : undefined, size);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('cache-control', 'private, max-age=3600')
      .send(Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  });
}
