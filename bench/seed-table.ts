// The seed team's table as a user makes it: the synthetic kidney of `examples/seed-table.json`'s
// notes generated into the bench stack, the grid POSTed once, two workers of one thread each (this
// machine's two cores), the sweep closed, and its leaderboard printed with public and private
// surface Dice. The goals (docs/evaluation.md): the best public score above 0.3, no two runs tied
// at zero, and the whole table in at most two hours with two workers.
// `npm run bench -- seed-table [--file examples/seed-table.json] [--workers 2]`
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { parseShape, parseSplit } from '@capillary/cli/demo';
import { hostLine } from './_host.ts';
import { benchArgs, integerArg } from './_args.ts';
import { bestOf, follow, markdownTable, readSpecFile, startHarness } from './_real-data.ts';

/** The dataset the file's notes describe, read by `capillary synth`'s own option parsers. */
function datasetOf(notes: string) {
  const option = (name: string) => new RegExp(`--${name} (\\S+)`).exec(notes)?.[1];
  const [shape, seed, split] = [option('shape'), option('seed'), option('split')];
  if (!shape || !seed || !split) throw new Error('the file\'s base.notes must carry the synth command (--shape, --seed, --split)');
  return { shape: parseShape(shape), seed: Number(seed), roles: parseSplit(split) };
}

const { values: opts } = benchArgs({ options: { file: { type: 'string', default: 'examples/seed-table.json' }, workers: { type: 'string', default: '2' } } });
const workers = integerArg('workers', opts.workers);
const file = opts.file;
const { kind, body } = readSpecFile(file);
if (kind !== 'sweep') {
  console.error(`--file ${file}: the seed table is a sweep (a file with base and grid)`);
  process.exit(2);
}
console.log(hostLine());
const { shape, seed, roles } = datasetOf(body.base.notes);
process.env.TFJS_THREADS = '1';
const h = await startHarness(workers);
try {
  for (const [i, role] of roles.entries()) {
    const source = syntheticSource({ shape, seed: seed + i, name: `kidney_${String(i).padStart(2, '0')}` });
    await importVolume(source, { catalog: new VolumeRegistry(prisma()), dataset: body.base.dataset, role });
  }
  console.log(`${body.base.dataset}: ${roles.length} synthetic kidneys of ${shape.join(' x ')} (${roles.join(', ')})`);
  const t0 = Date.now();
  const sweep = await h.submit(body, '/sweeps');
  const runs: { id: string; spec: Record<string, any> }[] = sweep.experiments;
  const label = (s: Record<string, any>) => `${s.encoder} lr ${s.lr} epochs ${s.epochs} aug p ${s.augmentationP}`;
  const labels = new Map(runs.map((r) => [r.id, label(r.spec)]));
  await follow(h, runs.map((r) => r.id), (id) => labels.get(id)!);
  const minutes = (Date.now() - t0) / 60000;
  await h.submit({}, `/sweeps/${sweep.id}/close`);
  const done = await Promise.all(runs.map((r) => h.get(`/experiments/${r.id}`)));
  const rows = done
    .map((e: any) => ({
      encoder: e.spec.encoder, lr: String(e.spec.lr), epochs: e.spec.epochs, 'aug p': e.spec.augmentationP,
      'public sDice': e.score, 'private sDice': e.privateScore, validation: e.validationScore, 'best epoch': bestOf(e).epoch,
      status: e.status, 'training min': bestOf(e).trainingMinutes,
    }))
    .sort((a, b) => (b['public sDice'] ?? -1) - (a['public sDice'] ?? -1));
  console.log(markdownTable(rows.map((r, i) => ({ '#': i + 1, ...r }))));
  const publicScores = rows.map((r) => r['public sDice'] as number | null);
  const zeros = publicScores.filter((s) => s === 0).length;
  const summary = {
    file, sweepId: sweep.id, workers, runs: rows.length,
    succeeded: rows.filter((r) => r.status === 'succeeded').length,
    bestPublic: publicScores[0], tiedAtZero: zeros > 1 ? zeros : 0,
    minutes: Number(minutes.toFixed(1)),
    // The goals as ratios: best public surface Dice over 0.3, and the two-hour budget over the wall time.
    scoreRatio: Number(((publicScores[0] ?? 0) / 0.3).toFixed(3)),
    budgetRatio: Number((120 / minutes).toFixed(3)),
  };
  console.log(JSON.stringify(summary));
} finally {
  await h.close();
}
process.exit(0);
