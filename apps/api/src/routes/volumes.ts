import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Env } from '@capillary/contracts';
import type { Axis } from '@capillary/volumes';
import { ErrorBody, ShardProgress } from '@capillary/contracts/api';
import { badField } from '../services/errors.ts';
import { privateRevealed, shardProgress } from '../services/views.ts';
import { servesLabels } from '../services/viewer.ts';

/** The viewer's axis names: xy planes are z slices, xz planes are y slices, yz planes are x slices. */
const AXIS: Record<string, Axis> = { xy: 'z', xz: 'y', yz: 'x' };

/** A binary body (application/octet-stream). */
const Bytes = Type.Unsafe<Buffer>(Type.String({ format: 'binary' }));

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const SliceParams = Type.Object({ id: Type.String({ format: 'uuid' }), axis: Type.Enum(['xy', 'xz', 'yz']), index: Type.Integer({ minimum: 0 }) });
const SliceQuery = Type.Object({ layer: Type.Enum(['image', 'label', 'prediction']), predictionId: Type.Optional(Type.String({ format: 'uuid' })) });

const PredictionSummary = Type.Object({
  id: Type.String(),
  experimentId: Type.String(),
  experimentName: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  createdAt: Type.String(),
  surfaceDice: Type.Union([Type.Number(), Type.Null()]),
  dice: Type.Union([Type.Number(), Type.Null()]),
  foregroundVoxels: Type.Union([Type.Integer(), Type.Null()]),
  shards: ShardProgress,
});
const VolumeDetail = Type.Object({
  volume: Type.Object({
    id: Type.String(), name: Type.String(), role: Type.String(), dtype: Type.String(),
    depth: Type.Integer(), height: Type.Integer(), width: Type.Integer(), hasLabels: Type.Boolean(),
    datasetId: Type.String(), datasetName: Type.String(),
  }),
  predictions: Type.Array(PredictionSummary),
});

interface MaskOutput {
  volumeId: string;
  surfaceDice?: number | null;
  dice?: number | null;
  foregroundVoxels?: number;
}

/**
 * Volume details and slices for the dashboard's viewer (the 3D view is in volume-3d.ts). Reads go
 * through `app.viewer`: cached by the array they come from, shared while in flight, chunk fetches
 * bounded; nothing loads a whole volume.
 */
export default async function volumeRoutes(fastify: FastifyInstance, opts: { env: Env }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const rateLimit = { max: opts.env.VIEWER_RATE_LIMIT_MAX, timeWindow: '1 minute' };

  app.get('/volumes/:id', {
    schema: { summary: 'A volume and the predictions that cover it', params: IdParams, response: { 200: VolumeDetail, 400: ErrorBody, 404: ErrorBody } },
    config: { rateLimit, action: 'volume.read' },
  }, async (req) => {
    const row = await app.viewer.volume(req.params.id);
    const predictions = await app.db.prediction.findMany({
      where: { datasetName: row.dataset.name },
      orderBy: { createdAt: 'desc' },
      include: { experiment: { select: { name: true, sweepId: true, closedAt: true, sweep: { select: { closedAt: true } } } } },
    });
    // A private-test volume's scores would tell the private score before the close.
    const hidden = (p: (typeof predictions)[number]) => row.role === 'private_test' && !privateRevealed(p.experiment);
    return {
      volume: {
        id: row.id, name: row.name, role: row.role, dtype: row.dtype, depth: row.depth, height: row.height, width: row.width,
        hasLabels: servesLabels(row), datasetId: row.datasetId, datasetName: row.dataset.name,
      },
      predictions: predictions.flatMap((p) => {
        const out = (p.outputs as unknown as MaskOutput[]).find((o) => o.volumeId === row.id);
        // Still running: listed so the viewer can say so, without scores.
        if (!out && p.status === 'succeeded') return [];
        return [{
          id: p.id, experimentId: p.experimentId, experimentName: p.experiment.name, status: p.status, createdAt: p.createdAt.toISOString(),
          surfaceDice: hidden(p) ? null : (out?.surfaceDice ?? null), dice: hidden(p) ? null : (out?.dice ?? null), foregroundVoxels: out?.foregroundVoxels ?? null,
          shards: shardProgress(p),
        }];
      }),
    };
  });

  app.get('/volumes/:id/slices/:axis/:index', {
    schema: {
      summary: 'One slice as raw uint8 bytes (rows x cols in x-slice-height / x-slice-width): image normalised to 0-255 by the volume percentiles; label and prediction 0/1',
      params: SliceParams,
      querystring: SliceQuery,
      response: { 200: Bytes, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
    // A viewer scrubbing through a volume asks for three tiles per slice.
    config: { rateLimit, action: 'volume.read' },
  }, async (req, reply) => {
    const { id, axis, index } = req.params;
    const { layer, predictionId } = req.query;
    const row = await app.viewer.volume(id);
    const a = AXIS[axis];
    const length = a === 'z' ? row.depth : a === 'y' ? row.height : row.width;
    if (index >= length) throw badField('params/index', `must be less than ${length}`);
    const [rows, cols] = a === 'z' ? [row.height, row.width] : a === 'y' ? [row.depth, row.width] : [row.depth, row.height];
    const out = await app.viewer.slice(row, layer, predictionId, a, index);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('x-slice-width', String(cols))
      .header('x-slice-height', String(rows))
      // Stored volumes and finished masks never change.
      .header('cache-control', 'private, max-age=3600')
      .send(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  });
}
