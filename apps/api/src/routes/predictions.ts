import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DatasetName, PredictionOptions } from '@capillary/contracts';
import { getObjectStream } from '@capillary/storage';
import { ErrorBody, Prediction } from '@capillary/contracts/api';
import { predictionView } from '../services/views.ts';
import { HttpError, badField } from '../services/errors.ts';
import { checkPredictionBudget } from '../services/prediction-budget.ts';
import { checkPseudoLabelTarget } from '../services/pseudo-labels.ts';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
/** What `predictionView` needs to know whether private-test scores may be shown. */
const REVEAL = { experiment: { select: { sweepId: true, closedAt: true, sweep: { select: { closedAt: true } } } } } as const;
const Body = Type.Object({ dataset: DatasetName, options: Type.Optional(PredictionOptions) }, { additionalProperties: false });
export default async function predictionRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/experiments/:id/predictions', {
    schema: {
      summary: "Predict every volume of a dataset with the experiment's best checkpoint",
      security: [{ apiKey: [] }],
      params: IdParams,
      body: Body,
      response: { 201: Prediction, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
    config: { action: 'prediction.create' },
  }, async (req, reply) => {
    const { id } = req.params;
    const { dataset, options } = req.body;
    const experiment = await app.db.experiment.findUnique({ where: { id }, include: { _count: { select: { checkpoints: true } }, sweep: { select: { closedAt: true } } } });
    if (!experiment) throw new HttpError(404, `experiment ${id} not found`);
    if (!experiment._count.checkpoints) throw new HttpError(409, `experiment ${id} has no checkpoint yet`);
    const target = await app.db.dataset.findUnique({ where: { name: dataset } });
    if (!target || target.projectId !== experiment.projectId) throw badField('body/dataset', `no dataset named "${dataset}" in this project`);
    await checkPredictionBudget(app, experiment, dataset, options);
    if (options?.pseudoLabelDataset) await checkPseudoLabelTarget(app.db, dataset, options.pseudoLabelDataset, 'body/options/pseudoLabelDataset');
    const predictionId = randomUUID();
    // Queued after the row is committed, so the worker always finds it; removed if the queue refuses.
    const row = await app.predictions.create({ id: predictionId, experimentId: id, datasetName: dataset, options: options ?? {}, projectId: experiment.projectId, createdById: req.principal?.userId ?? null });
    try {
      await app.queues.enqueue('prediction', { predictionId, experimentId: id, dataset }, predictionId);
    } catch (e) {
      await app.predictions.discard(predictionId);
      throw new HttpError(503, `the queue is not available, nothing was created: ${(e as Error).message}`);
    }
    return reply.status(201).send(predictionView({ ...row, experiment }));
  });

  app.get('/experiments/:id/predictions', {
    schema: { summary: 'Predictions made with this experiment', params: IdParams, response: { 200: Type.Object({ items: Type.Array(Prediction) }, { additionalProperties: false }), 400: ErrorBody, 404: ErrorBody } },
    config: { action: 'experiment.read' },
  }, async (req) => {
    const { id } = req.params;
    return { items: (await app.db.prediction.findMany({ where: { experimentId: id }, orderBy: { createdAt: 'desc' }, include: REVEAL })).map(predictionView) };
  });

  app.get('/predictions/:id', {
    schema: { summary: 'One prediction: status and per-volume outputs (mask location, scores)', params: IdParams, response: { 200: Prediction, 400: ErrorBody, 404: ErrorBody } },
    config: { action: 'prediction.read' },
  }, async (req) => {
    const { id } = req.params;
    const row = await app.db.prediction.findUnique({ where: { id }, include: REVEAL });
    if (!row) throw new HttpError(404, `prediction ${id} not found`);
    return predictionView(row);
  });

  app.delete('/predictions/:id', {
    schema: {
      summary: 'Cancel a prediction (queued: never starts; running: it and its shards stop within seconds)',
      security: [{ apiKey: [] }],
      params: IdParams,
      response: { 200: Prediction, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
    config: { action: 'prediction.cancel' },
  }, async (req) => {
    await app.predictionService.cancel(req.params.id);
    return predictionView((await app.db.prediction.findUniqueOrThrow({ where: { id: req.params.id }, include: REVEAL })));
  });

  app.get('/predictions/:id/submission.csv', {
    schema: { summary: 'The prediction as a competition submission CSV (id,rle)', params: IdParams },
    config: { action: 'prediction.read' },
  }, async (req, reply) => {
    const { id } = req.params;
    const row = await app.db.prediction.findUnique({ where: { id } });
    if (!row?.csvKey) throw new HttpError(404, `prediction ${id} has no submission yet`);
    const obj = await getObjectStream(row.csvKey);
    reply.header('content-type', 'text/csv').header('content-disposition', `attachment; filename="submission-${id}.csv"`);
    return reply.send(obj.body);
  });
}
