import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { DatasetName, PredictionOptions } from '@capillary/contracts';
import { getObjectStream } from '@capillary/storage';
import { ErrorBody } from '../schemas.ts';
import { HttpError, badField } from '../services/errors.ts';
import { checkPredictionBudget } from '../services/prediction-budget.ts';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Body = Type.Object({ dataset: DatasetName, options: Type.Optional(PredictionOptions) }, { additionalProperties: false });
const Prediction = Type.Object({
  id: Type.String(),
  experimentId: Type.String(),
  datasetName: Type.String(),
  options: Type.Object({}, { additionalProperties: true }),
  status: Type.String(),
  attempts: Type.Integer({ description: 'Attempts opened so far; more than 1 after a hand-over' }),
  outputs: Type.Array(Type.Object({}, { additionalProperties: true })),
  csvKey: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export default async function predictionRoutes(app: FastifyInstance) {
  app.post('/experiments/:id/predictions', {
    schema: {
      summary: "Predict every volume of a dataset with the experiment's best checkpoint",
      security: [{ apiKey: [] }],
      params: IdParams,
      body: Body,
      response: { 201: Prediction, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
    preHandler: app.requireApiKey,
  }, async (req, reply) => {
    const { id } = req.params as Static<typeof IdParams>;
    const { dataset, options } = req.body as Static<typeof Body>;
    const experiment = await app.db.experiment.findUnique({ where: { id }, include: { _count: { select: { checkpoints: true } } } });
    if (!experiment) throw new HttpError(404, `experiment ${id} not found`);
    if (!experiment._count.checkpoints) throw new HttpError(409, `experiment ${id} has no checkpoint yet`);
    if (!(await app.db.dataset.findUnique({ where: { name: dataset } }))) {
      throw badField('body/dataset', `no dataset named "${dataset}"`);
    }
    await checkPredictionBudget(app, experiment, dataset, options);
    const predictionId = randomUUID();
    // Queued after the row is committed, so the worker always finds it; removed if the queue refuses.
    const row = await app.predictions.create({ id: predictionId, experimentId: id, datasetName: dataset, options: options ?? {} });
    try {
      await app.queues.enqueue('prediction', { predictionId, experimentId: id, dataset }, predictionId);
    } catch (e) {
      await app.predictions.discard(predictionId);
      throw new HttpError(503, `the queue is not available, nothing was created: ${(e as Error).message}`);
    }
    return reply.status(201).send(row);
  });

  app.get('/experiments/:id/predictions', {
    schema: { summary: 'Predictions made with this experiment', params: IdParams, response: { 200: Type.Object({ items: Type.Array(Prediction) }) } },
  }, async (req) => {
    const { id } = req.params as Static<typeof IdParams>;
    return { items: await app.db.prediction.findMany({ where: { experimentId: id }, orderBy: { createdAt: 'desc' } }) };
  });

  app.get('/predictions/:id', {
    schema: { summary: 'One prediction: status and per-volume outputs (mask location, scores)', params: IdParams, response: { 200: Prediction, 404: ErrorBody } },
  }, async (req) => {
    const { id } = req.params as Static<typeof IdParams>;
    const row = await app.db.prediction.findUnique({ where: { id } });
    if (!row) throw new HttpError(404, `prediction ${id} not found`);
    return row;
  });

  app.get('/predictions/:id/submission.csv', {
    schema: { summary: 'The prediction as a competition submission CSV (id,rle)', params: IdParams },
  }, async (req, reply) => {
    const { id } = req.params as Static<typeof IdParams>;
    const row = await app.db.prediction.findUnique({ where: { id } });
    if (!row?.csvKey) throw new HttpError(404, `prediction ${id} has no submission yet`);
    const obj = await getObjectStream(row.csvKey);
    reply.header('content-type', 'text/csv').header('content-disposition', `attachment; filename="submission-${id}.csv"`);
    return reply.send(obj.body);
  });
}
