import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AshaSettings, PbtSettings, SweepExtension } from '@capillary/contracts';
import { rungSummary } from '@capillary/registry';
import { ErrorBody, Experiment, SweepDetail, SweepSpec } from '@capillary/contracts/api';
import { notFound } from '../services/errors.ts';
import { experimentView } from '../services/views.ts';
import { ownerOf } from '../auth/owner.ts';

const Closed = { additionalProperties: false } as const;
const SweepBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  strategy: Type.String({ description: 'grid, random, asha or tpe' }),
  asha: Type.Union([AshaSettings, Type.Null()]),
  maxConcurrent: Type.Union([Type.Integer(), Type.Null()], { description: 'at most this many trials queued or running at once; null: no cap' }),
  createdAt: Type.String({ format: 'date-time' }),
  closedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  experiments: Type.Array(Experiment),
}, Closed);
const SweepSummary = Type.Object({ id: Type.String(), name: Type.String(), strategy: Type.String(), createdAt: Type.String(), closedAt: Type.Union([Type.String(), Type.Null()]), experiments: Type.Integer() }, Closed);
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

type SweepWithRuns = Awaited<ReturnType<FastifyInstance['sweeps']['createSweep']>>;
const sweepBody = (sweep: SweepWithRuns) => ({
  id: sweep.id,
  name: sweep.name,
  strategy: sweep.strategy,
  asha: (sweep.asha as AshaSettings | null) ?? null,
  maxConcurrent: sweep.maxConcurrent,
  createdAt: sweep.createdAt.toISOString(),
  closedAt: sweep.closedAt?.toISOString() ?? null,
  experiments: sweep.experiments.map(experimentView),
});

export default async function sweepRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/sweeps', {
    schema: {
      summary: 'Queue a grid of experiments (every combination of the listed values) as one sweep',
      security: [{ apiKey: [] }],
      body: SweepSpec,
      response: { 201: SweepBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
    config: { action: 'sweep.create' },
  }, async (req, reply) => {
    const sweep = await app.sweeps.createSweep(req.body, ownerOf(req));
    return reply.status(201).send(sweepBody(sweep));
  });

  app.post('/sweeps/:id/rerun', {
    schema: {
      summary: "Re-queue a sweep's failed and cancelled runs; each resumes from its last checkpoint",
      security: [{ apiKey: [] }],
      params: IdParams,
      response: { 200: Type.Object({ requeued: Type.Array(Type.String()), sweep: SweepBody }, Closed), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
    },
    config: { action: 'sweep.rerun' },
  }, async (req) => {
    const { sweep, requeued } = await app.sweeps.rerunSweep(req.params.id);
    return { requeued, sweep: sweepBody(sweep) };
  });

  app.post('/sweeps/:id/extend', {
    schema: {
      summary: 'Add trials to a random or ASHA sweep, sampled from its space after the ones it has',
      security: [{ apiKey: [] }],
      params: IdParams,
      body: SweepExtension,
      response: { 200: SweepBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
    config: { action: 'sweep.extend' },
  }, async (req) => sweepBody(await app.sweeps.extendSweep(req.params.id, req.body.trials, ownerOf(req))));

  app.get('/sweeps', {
    schema: { summary: 'List sweeps', response: { 200: Type.Object({ items: Type.Array(SweepSummary) }, Closed) } },
    config: { action: 'sweep.list' },
  }, async (req) => {
    const rows = await app.db.sweep.findMany({ where: { projectId: req.project!.id }, orderBy: { createdAt: 'desc' }, include: { _count: { select: { experiments: true } } } });
    return { items: rows.map((s) => ({ id: s.id, name: s.name, strategy: s.strategy, createdAt: s.createdAt.toISOString(), closedAt: s.closedAt?.toISOString() ?? null, experiments: s._count.experiments })) };
  });

  app.get('/sweeps/:id', {
    schema: { summary: 'A sweep for its page: varied parameters, scores, ASHA rungs and every trial\'s curve', params: IdParams, response: { 200: SweepDetail, 400: ErrorBody, 404: ErrorBody } },
    config: { action: 'sweep.read' },
  }, async (req) => {
    const { id } = req.params;
    const sweep = await app.db.sweep.findUnique({
      where: { id },
      include: {
        experiments: { orderBy: [{ trialIndex: 'asc' }, { createdAt: 'asc' }], include: { epochMetrics: { orderBy: { epoch: 'asc' } } } },
        pbtExploits: { orderBy: [{ epoch: 'asc' }, { createdAt: 'asc' }] },
      },
    });
    if (!sweep) throw notFound(`sweep ${id}`);
    const request = sweep.grid as { grid?: Record<string, unknown>; space?: Record<string, unknown>; pbt?: PbtSettings };
    const params = Object.keys(request.space ?? request.grid ?? {});
    const value = (v: unknown) => (Array.isArray(v) ? v.join(',') : (v as string | number | boolean));
    const asha = (sweep.asha as AshaSettings | null) ?? null;
    return {
      id: sweep.id,
      name: sweep.name,
      strategy: sweep.strategy,
      asha,
      maxConcurrent: sweep.maxConcurrent,
      createdAt: sweep.createdAt.toISOString(),
      closedAt: sweep.closedAt?.toISOString() ?? null,
      params,
      rungs: asha ? rungSummary(asha, sweep.experiments.map((e) => ({ id: e.id, rung: e.rung ?? 0, epochsDone: e.epochMetrics.length }))) : [],
      pbt: sweep.strategy === 'pbt' ? (request.pbt ?? null) : null,
      lineage: sweep.pbtExploits.map((x) => ({
        experimentId: x.experimentId, epoch: x.epoch, fromExperimentId: x.fromExperimentId, fromEpoch: x.fromEpoch,
        before: x.before as Record<string, unknown>, after: x.after as Record<string, unknown>,
      })),
      trials: sweep.experiments.map((e) => ({
        id: e.id,
        name: e.name,
        trialIndex: e.trialIndex,
        status: e.status,
        rung: e.rung,
        score: e.score,
        params: Object.fromEntries(params.map((p) => [p, value((e.spec as Record<string, unknown>)[p])]).filter(([, v]) => v !== undefined)),
        curve: e.epochMetrics.map((m) => ({ epoch: m.epoch, trainLoss: m.trainLoss, valLoss: m.valLoss, surfaceDice: m.surfaceDice })),
      })),
    };
  });

  app.post('/sweeps/:id/close', {
    schema: { summary: 'Close a sweep: reveals its private-test scores on the leaderboard', security: [{ apiKey: [] }], params: IdParams, response: { 200: Type.Object({ id: Type.String(), closedAt: Type.String() }, Closed), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
    config: { action: 'sweep.close' },
  }, async (req) => {
    const { id } = req.params;
    const closed = await app.registry.sweeps.closeSweep(id);
    if (!closed) throw notFound(`sweep ${id}`);
    return { id, closedAt: closed.closedAt.toISOString() };
  });
}
