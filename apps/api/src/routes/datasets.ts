import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Prisma } from '@capillary/db';
import { DatasetName } from '@capillary/contracts';
import { VolumeRegistry, registeredContentHash } from '@capillary/registry';
import { ErrorBody } from '@capillary/contracts/api';
import { HttpError, badField } from '../services/errors.ts';
import { computeVolumeStats, readArrayMeta } from '../services/register-volume.ts';

export const DatasetParams = Type.Object({ name: DatasetName });
const S3Key = Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9!_.*()/-]+$' });
export const RegisterBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    role: Type.Enum(['train', 'validation', 'public_test', 'private_test'], { default: 'train' }),
    imageKey: S3Key,
    labelKey: Type.Optional(S3Key),
    maskKey: Type.Optional(S3Key),
    voxelSizeUm: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 3, maxItems: 3, default: [1, 1, 1] }),
    labelDensity: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: 'Share of the vessels that carry labels (1: dense)' }),
    /** The same number by the name the issue gives it: the labelled fraction of sparse labels. */
    labelledFraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Alias of labelDensity' })),
  },
  { additionalProperties: false },
);

const Closed = { additionalProperties: false } as const;
const RegisteredVolume = Type.Object({
  id: Type.String(), name: Type.String(), depth: Type.Integer(), height: Type.Integer(), width: Type.Integer(), dtype: Type.String(),
  stats: Type.Object({}, { additionalProperties: true, description: 'percentiles, mean, std, foreground fraction' }),
}, Closed);
const DatasetList = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.String(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    volumes: Type.Array(Type.Object({
      id: Type.String(), name: Type.String(), role: Type.String(), dtype: Type.String(),
      depth: Type.Integer(), height: Type.Integer(), width: Type.Integer(), hasLabels: Type.Boolean(),
    }, Closed)),
  }, Closed)),
}, Closed);

export default async function datasetRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/datasets/:name/volumes', {
    schema: {
      summary: 'Register Zarr arrays already uploaded to the bucket (e.g. by the CLI) as a volume of a dataset',
      security: [{ apiKey: [] }],
      params: DatasetParams,
      body: RegisterBody,
      response: { 201: RegisteredVolume, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
    config: { action: 'dataset.register' },
  }, async (req, reply) => {
    const { name: dataset } = req.params;
    const b = req.body;
    const image = await readArrayMeta(b.imageKey, 'body/imageKey');
    for (const [field, key] of [['body/labelKey', b.labelKey], ['body/maskKey', b.maskKey]] as const) {
      if (!key) continue;
      const meta = await readArrayMeta(key, field);
      if (meta.shape.join() !== image.shape.join() || meta.dtype !== 'uint8') {
        throw badField(field, `must be a uint8 array of the image's shape [${image.shape}], found ${meta.dtype} [${meta.shape}]`);
      }
    }
    if (b.labelledFraction !== undefined && b.labelDensity !== 1 && b.labelDensity !== b.labelledFraction) {
      throw badField('body/labelledFraction', `is ${b.labelledFraction} but labelDensity is ${b.labelDensity}; give one of them`);
    }
    if (b.labelledFraction !== undefined && !b.labelKey) throw badField('body/labelledFraction', 'needs labelKey (a labelled fraction of no labels)');
    const labelDensity = b.labelledFraction ?? b.labelDensity;
    const volumes = new VolumeRegistry(app.db);
    const existing = await volumes.find(dataset, b.name);
    if (existing) throw new HttpError(409, `dataset "${dataset}" already has a volume named "${b.name}"`);
    const stats = await computeVolumeStats(b.imageKey, b.labelKey ?? null, image);
    const [depth, height, width] = image.shape;
    const row = await volumes.register(
      { name: dataset, projectId: req.project!.id, createdById: req.principal?.userId ?? null },
      {
        name: b.name, role: b.role, imageKey: b.imageKey, labelKey: b.labelKey ?? null, maskKey: b.maskKey ?? null,
        dtype: image.dtype, depth, height, width, voxelSizeUm: b.voxelSizeUm, labelDensity,
        stats: stats as unknown as Prisma.InputJsonValue, contentHash: registeredContentHash(b.imageKey, b.labelKey ?? null, b.maskKey ?? null),
      },
    );
    return reply.status(201).send({ id: row.id, name: row.name, depth: row.depth, height: row.height, width: row.width, dtype: row.dtype, stats: row.stats as Record<string, unknown> });
  });

  app.get('/datasets', {
    schema: {
      summary: 'Registered datasets and their volumes',
      response: { 200: DatasetList },
    },
    config: { action: 'dataset.list' },
  }, async (req) => {
    const rows = await app.db.dataset.findMany({ where: { projectId: req.project!.id }, orderBy: { name: 'asc' }, include: { volumes: { orderBy: { name: 'asc' } } } });
    return {
      items: rows.map((d) => ({
        id: d.id, name: d.name, description: d.description,
        volumes: d.volumes.map((v) => ({ id: v.id, name: v.name, role: v.role, dtype: v.dtype, depth: v.depth, height: v.height, width: v.width, hasLabels: !!v.labelKey })),
      })),
    };
  });
}
