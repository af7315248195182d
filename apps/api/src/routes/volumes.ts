import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Volume } from '@capillary/db';
import { normalizeInto, type Axis, type VolumeStats } from '@capillary/volumes';
import { openVolume, type ZarrVolume } from '@capillary/volumes/zarr-volume';
import { ErrorBody } from '../schemas.ts';
import { HttpError } from '../services/errors.ts';
import { downsampleMax, niftiUint8 } from './volume-3d.ts';

/** The viewer's axis names: xy planes are z slices, xz planes are y slices, yz planes are x slices. */
const AXIS: Record<string, Axis> = { xy: 'z', xz: 'y', yz: 'x' };
const Layer = Type.Enum(['image', 'label', 'prediction']);

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const SliceParams = Type.Object({ id: Type.String({ format: 'uuid' }), axis: Type.Enum(['xy', 'xz', 'yz']), index: Type.Integer({ minimum: 0 }) });
const SliceQuery = Type.Object({ layer: Layer, predictionId: Type.Optional(Type.String({ format: 'uuid' })) });
const Volume3dQuery = Type.Object({
  layer: Type.Enum(['label', 'prediction']),
  predictionId: Type.Optional(Type.String({ format: 'uuid' })),
  size: Type.Integer({ minimum: 16, maximum: 256, default: 128, description: 'Largest side of the downsampled volume' }),
});

const PredictionSummary = Type.Object({
  id: Type.String(),
  experimentId: Type.String(),
  experimentName: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  createdAt: Type.String(),
  surfaceDice: Type.Union([Type.Number(), Type.Null()]),
  dice: Type.Union([Type.Number(), Type.Null()]),
  foregroundVoxels: Type.Union([Type.Integer(), Type.Null()]),
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
  maskKey: string;
  surfaceDice?: number | null;
  dice?: number | null;
  foregroundVoxels?: number;
}

/** A few open readers, newest kept: a viewer moving through slices reuses its volume's chunk cache. */
class ReaderCache {
  private readonly map = new Map<string, ZarrVolume>();
  constructor(private readonly max: number) {}
  get(key: string, open: () => ZarrVolume): ZarrVolume {
    let r = this.map.get(key);
    if (r) this.map.delete(key);
    else r = open();
    this.map.set(key, r);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    return r;
  }
}

/** Masks are written as plain uint8 volumes of 0/1; stats only matter for images. */
const MASK_STATS: VolumeStats = { p005: 0, p995: 1, mean: 0, std: 0, foregroundFraction: null };

/**
 * Slices and downsampled volumes for the dashboard's viewer. Every answer is read through the
 * volume reader a window at a time; nothing loads a whole volume.
 */
export default async function volumeRoutes(app: FastifyInstance) {
  const readers = new ReaderCache(6);
  const volumes3d = new Map<string, Uint8Array>();

  const volumeRow = async (id: string) => {
    const row = await app.db.volume.findUnique({ where: { id }, include: { dataset: { select: { name: true } } } });
    if (!row) throw new HttpError(404, `volume ${id} not found`);
    return row;
  };
  const imageReader = (row: Volume) => readers.get(`v:${row.id}`, () => openVolume(row, { memoryCacheMB: 128 }));
  const maskReader = async (row: Volume, predictionId: string | undefined) => {
    if (!predictionId) throw new HttpError(400, 'querystring/predictionId: required for the prediction layer', [{ field: 'querystring/predictionId', message: 'is required for layer=prediction' }]);
    const prediction = await app.db.prediction.findUnique({ where: { id: predictionId } });
    if (!prediction) throw new HttpError(404, `prediction ${predictionId} not found`);
    const out = (prediction.outputs as unknown as MaskOutput[]).find((o) => o.volumeId === row.id);
    if (!out) throw new HttpError(404, `prediction ${predictionId} has no mask for volume ${row.id}${prediction.status === 'succeeded' ? '' : ` (it is ${prediction.status})`}`);
    return readers.get(`p:${predictionId}:${row.id}`, () =>
      openVolume({ id: `${predictionId}/${row.id}`, imageKey: out.maskKey, dtype: 'uint8', depth: row.depth, height: row.height, width: row.width, stats: MASK_STATS }, { memoryCacheMB: 32 }),
    );
  };

  app.get('/volumes/:id', {
    schema: { summary: 'A volume and the predictions that cover it', params: IdParams, response: { 200: VolumeDetail, 400: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    const row = await volumeRow((req.params as Static<typeof IdParams>).id);
    const predictions = await app.db.prediction.findMany({
      where: { datasetName: row.dataset.name },
      orderBy: { createdAt: 'desc' },
      include: { experiment: { select: { name: true } } },
    });
    return {
      volume: {
        id: row.id, name: row.name, role: row.role, dtype: row.dtype, depth: row.depth, height: row.height, width: row.width,
        hasLabels: !!row.labelKey, datasetId: row.datasetId, datasetName: row.dataset.name,
      },
      predictions: predictions.flatMap((p) => {
        const out = (p.outputs as unknown as MaskOutput[]).find((o) => o.volumeId === row.id);
        // Still running: listed so the viewer can say so, without scores.
        if (!out && p.status === 'succeeded') return [];
        return [{
          id: p.id, experimentId: p.experimentId, experimentName: p.experiment.name, status: p.status, createdAt: p.createdAt.toISOString(),
          surfaceDice: out?.surfaceDice ?? null, dice: out?.dice ?? null, foregroundVoxels: out?.foregroundVoxels ?? null,
        }];
      }),
    };
  });

  app.get('/volumes/:id/slices/:axis/:index', {
    schema: {
      summary: 'One slice as raw uint8 bytes (rows x cols in x-slice-height / x-slice-width): image normalised to 0-255 by the volume percentiles; label and prediction 0/1',
      params: SliceParams,
      querystring: SliceQuery,
      response: { 400: ErrorBody, 404: ErrorBody },
    },
    // A viewer scrubbing through a volume asks for three tiles per slice.
    config: { rateLimit: { max: 6000, timeWindow: '1 minute' } },
  }, async (req, reply) => {
    const { id, axis, index } = req.params as Static<typeof SliceParams>;
    const { layer, predictionId } = req.query as Static<typeof SliceQuery>;
    const row = await volumeRow(id);
    const a = AXIS[axis];
    const length = a === 'z' ? row.depth : a === 'y' ? row.height : row.width;
    if (index >= length) throw new HttpError(400, `params/index: must be less than ${length} (slices along ${axis})`, [{ field: 'params/index', message: `must be less than ${length}` }]);
    const [rows, cols] = a === 'z' ? [row.height, row.width] : a === 'y' ? [row.depth, row.width] : [row.depth, row.height];

    let out: Uint8Array;
    if (layer === 'image') {
      const reader = imageReader(row);
      const raw = await reader.readImage(a, index, 1);
      const norm = normalizeInto(raw, reader.stats, new Float32Array(raw.length));
      out = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = Math.round(norm[i] * 255);
    } else if (layer === 'label') {
      if (!row.labelKey) throw new HttpError(404, `volume ${id} has no labels`);
      out = binary(await imageReader(row).readLabel(a, index, 1));
    } else {
      out = binary(await (await maskReader(row, predictionId)).readImage(a, index, 1));
    }
    return reply
      .header('content-type', 'application/octet-stream')
      .header('x-slice-width', String(cols))
      .header('x-slice-height', String(rows))
      // Stored volumes and finished masks never change.
      .header('cache-control', 'private, max-age=3600')
      .send(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  });

  app.get('/volumes/:id/volume3d', {
    schema: {
      summary: 'Labels or a predicted mask, max-pooled so its longest side is at most `size`, as a uint8 NIfTI-1 file (for the 3D view)',
      params: IdParams,
      querystring: Volume3dQuery,
      response: { 400: ErrorBody, 404: ErrorBody },
    },
  }, async (req, reply) => {
    const { id } = req.params as Static<typeof IdParams>;
    const { layer, predictionId, size } = req.query as Static<typeof Volume3dQuery>;
    const row = await volumeRow(id);
    const key = `${id}:${layer}:${predictionId ?? ''}:${size}`;
    let file = volumes3d.get(key);
    if (!file) {
      let read: (start: number, count: number) => Promise<Uint8Array | Uint16Array>;
      if (layer === 'label') {
        if (!row.labelKey) throw new HttpError(404, `volume ${id} has no labels`);
        const r = imageReader(row);
        read = (s, c) => r.readLabel('z', s, c);
      } else {
        const r = await maskReader(row, predictionId);
        read = (s, c) => r.readImage('z', s, c);
      }
      const down = await downsampleMax([row.depth, row.height, row.width], size, read);
      const voxel = row.voxelSizeUm.length === 3 ? row.voxelSizeUm : [1, 1, 1];
      file = niftiUint8(down.data, down.shape, voxel.map((v) => (v * down.factor) / 1000) as [number, number, number]);
      volumes3d.set(key, file);
      // A handful of small files (at most 16 MB each); the oldest goes first.
      while (volumes3d.size > 16) volumes3d.delete(volumes3d.keys().next().value!);
    }
    return reply
      .header('content-type', 'application/octet-stream')
      .header('cache-control', 'private, max-age=3600')
      .send(Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  });
}

function binary(v: Uint8Array | Uint16Array): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] ? 1 : 0;
  return out;
}
