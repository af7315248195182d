// The training sandbox: a child process per job, so a long epoch never blocks the worker's event
// loop (which must keep renewing the job lock), and a cancel can end it at once with SIGKILL.
import { env, isInfrastructureError, type CommittedShard, type FromSandbox, type ToSandbox, type VolumeRef, type VolumeScore } from '@capillary/contracts';
import { selectBackend, train } from '@capillary/engine';
import { openVolume } from '@capillary/volumes';

const send = (m: FromSandbox) => new Promise<void>((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));

const waiters = new Map<number, () => void>();

/** Errors retrying cannot fix: the spec or the data is wrong, not the machine. */
function isUnrecoverable(e: unknown): boolean {
  const name = (e as { name?: string })?.name ?? '';
  return ['ValidationError', 'SpecError', 'PredictionInputError', 'VolumeNotFoundError', 'ImportError'].includes(name) || (e as { unrecoverable?: boolean })?.unrecoverable === true;
}

async function run(msg: Extract<ToSandbox, { type: 'start' }>) {
  const backend = await selectBackend(env().TFJS_BACKEND, env().TFJS_THREADS);
  await send({ type: 'backend', backend });
  const open = (refs: VolumeRef[]) => Promise.all(refs.map((r) => openVolume(r)));
  const [trainVolumes, validationVolumes] = await Promise.all([open(msg.train), open(msg.validation)]);
  await train({
    spec: msg.spec,
    train: trainVolumes,
    validation: validationVolumes,
    resume: msg.resume ?? undefined,
    stopAfterEpoch: msg.stopAfterEpoch,
    retuned: msg.retuned,
    onProgress: (p) => void send({ type: 'progress', ...p }),
    // Waits until the parent has stored the checkpoint, so a crash after this point resumes
    // from this epoch and never trains it twice.
    onEpoch: async (report, checkpoint) => {
      const saved = new Promise<void>((resolve) => waiters.set(report.epoch, resolve));
      await send({ type: 'epoch', report, checkpoint });
      await saved;
    },
  });
  await send({ type: 'done' });
}

async function predict(predictionId: string, attempt: number, shards?: CommittedShard[]) {
  const { prisma } = await import('@capillary/db');
  const { runPrediction } = await import('./prediction.ts');
  const { outputs, csvKey } = await runPrediction(prisma(), predictionId, attempt, { shards, onProgress: (p) => void send({ type: 'predict-progress', ...p }) });
  await send({ type: 'predicted', outputs, csvKey });
  await send({ type: 'done' });
}

async function predictShard(msg: Extract<ToSandbox, { type: 'predict-shard' }>) {
  const { prisma } = await import('@capillary/db');
  const { predictShard: run } = await import('./prediction.ts');
  const { bytes } = await run(prisma(), msg, (planes) => void send({ type: 'shard-progress', planes }));
  await send({ type: 'shard-stored', bytes });
  await send({ type: 'done' });
}

/** Scores the test volumes with a checkpoint handed over by the parent; reads no rows, writes nothing. */
async function score(msg: Extract<ToSandbox, { type: 'score' }>) {
  const { loadModelFromCheckpoint } = await import('@capillary/engine');
  const { predictAndScore } = await import('./prediction.ts');
  await selectBackend(env().TFJS_BACKEND, env().TFJS_THREADS);
  const model = loadModelFromCheckpoint(msg.checkpoint);
  const scores: VolumeScore[] = [];
  try {
    for (const [i, row] of msg.volumes.entries()) {
      const r = await predictAndScore(model, row, msg.spec, msg.options, {
        onSlice: async (z) => void send({ type: 'score-progress', volume: row.name, volumeIndex: i, volumes: msg.volumes.length, slice: z + 1, slices: row.depth }),
      });
      scores.push({ volumeId: row.id, volume: row.name, role: row.role, surfaceDice: r.surfaceDice, dice: r.dice });
    }
  } finally {
    model.dispose();
  }
  await send({ type: 'scored', scores });
  await send({ type: 'done' });
}

/** tfjs and the wasm heap report exhaustion in several ways; all of them mean the spec is too big. */
const isOutOfMemory = (e: unknown) => /out of memory|\bOOM\b|Array buffer allocation failed|Invalid typed array length|memory access out of bounds/i.test(String((e as Error)?.message ?? e));

process.on('message', (msg: ToSandbox) => {
  if (msg.type === 'epoch-saved') {
    waiters.get(msg.epoch)?.();
    waiters.delete(msg.epoch);
    return;
  }
  const work = msg.type === 'predict' ? predict(msg.predictionId, msg.attempt, msg.shards) : msg.type === 'predict-shard' ? predictShard(msg) : msg.type === 'score' ? score(msg) : run(msg);
  work.then(
    () => process.exit(0),
    async (e: Error) => {
      const report = { message: e?.stack ?? String(e), unrecoverable: isUnrecoverable(e), infrastructure: isInfrastructureError(e), outOfMemory: isOutOfMemory(e) };
      await send({ type: 'error', ...report }).catch(() => {});
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(1));
