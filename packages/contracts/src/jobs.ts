import { Type, type Static } from 'typebox';
import { ExperimentSpec, DatasetName } from './spec.ts';
import { Validator } from './validate.ts';

const Uuid = Type.String({ format: 'uuid' });

/**
 * The job catalogue: every queue, its job name and payload schema. Producers validate before
 * `add`, workers validate again when they pick a job up, so a stale or hand-made job fails fast.
 */
export const JOBS = {
  training: {
    queue: 'training',
    name: 'train',
    payload: Type.Object(
      { experimentId: Uuid, spec: ExperimentSpec },
      { additionalProperties: false },
    ),
  },
  prediction: {
    queue: 'prediction',
    name: 'predict',
    payload: Type.Object(
      {
        predictionId: Uuid, experimentId: Uuid, dataset: DatasetName,
        /** Set once the job has fanned its shards out: the prediction attempt they belong to. */
        attempt: Type.Optional(Type.Integer({ minimum: 1 })),
      },
      { additionalProperties: false },
    ),
  },
  /**
   * One shard of a big prediction: the planes [start, end) of one volume along one plane axis,
   * predicted with TTA and stored at 16 bits; a child of its prediction's job (a BullMQ flow).
   */
  predictionShard: {
    queue: 'prediction-shard',
    name: 'predict-shard',
    payload: Type.Object(
      {
        predictionId: Uuid,
        /** The prediction attempt that planned it: a newer attempt fences it off. */
        attempt: Type.Integer({ minimum: 1 }),
        shard: Type.String({ pattern: '^[0-9]+-[0-9]+$', description: 'volume index - shard index' }),
        volumeId: Uuid,
        plane: Type.Enum(['xy', 'xz', 'yz']),
        start: Type.Integer({ minimum: 0 }),
        end: Type.Integer({ minimum: 1 }),
      },
      { additionalProperties: false },
    ),
  },
  /**
   * A job that only waits on the services a run waits on: a HEAD of the bucket and a Postgres
   * query that sleeps `holdMs`. For benchmarks (dispatch throughput) and end-to-end health
   * checks; it writes nothing.
   */
  probe: {
    queue: 'probe',
    name: 'probe',
    payload: Type.Object(
      { probeId: Uuid, holdMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }) },
      { additionalProperties: false },
    ),
  },
  /**
   * One webhook delivery (an outbox row, see registry webhooks.ts): posted, signed, and retried
   * with back-off; per endpoint, only the oldest pending delivery is tried, so events arrive in order.
   */
  webhook: {
    queue: 'webhook',
    name: 'deliver',
    payload: Type.Object({ deliveryId: Uuid }, { additionalProperties: false }),
  },
} as const;

export type JobKind = keyof typeof JOBS;
export type JobPayload<K extends JobKind> = Static<(typeof JOBS)[K]['payload']>;

const validators = Object.fromEntries(
  Object.entries(JOBS).map(([k, v]) => [k, new Validator(`${k} job payload`, v.payload)]),
) as { [K in JobKind]: Validator<(typeof JOBS)[K]['payload']> };

export function parseJobPayload<K extends JobKind>(kind: K, data: unknown): JobPayload<K> {
  return validators[kind].parse(data) as JobPayload<K>;
}
