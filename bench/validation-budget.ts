/**
 * The share of an epoch spent validating under the default validation budget, on a kidney-sized
 * validation volume (a synthetic kidney: full HiP-CT slice area, 1303 x 912, as many planes as a
 * volume held in memory allows).
 *
 *   npm run bench -- validation-budget [--tile 128] [--steps 20] [--filters 8] [--depth 3] [--planes 112] [--threads 2]
 *
 * Trains two epochs (the last is reported: the first pays for first uses) on a small synthetic volume and validates on the kidney-sized one with the spec's
 * default budget; also says what validating the whole volume would cost (from counted voxels, at the
 * crops' measured rate). Prints human lines, then one JSON object on the last line.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Value } from 'typebox/value';
import { ExperimentSpec, PREDICTED_VOXEL_COST, epochTrainingVoxels, validationBudgetOf } from '@capillary/contracts';
import { selectBackend, train, type EpochReport } from '@capillary/engine';
import { tileStarts } from '@capillary/engine/planning';
import { generateSyntheticVolume, MAX_IN_MEMORY_VOXELS } from '@capillary/volumes';

const { values: args } = parseArgs({
  options: {
    tile: { type: 'string', default: '128' },
    steps: { type: 'string', default: '20' },
    filters: { type: 'string', default: '8' },
    depth: { type: 'string', default: '3' },
    planes: { type: 'string', default: String(Math.floor(MAX_IN_MEMORY_VOXELS / (1303 * 912))) },
    threads: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '2' },
  },
});

/** CPU model, widest SIMD extension and cores of this host. */
function host() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/) ?? []);
  const simd = flags.has('avx512f') ? 'avx512' : flags.has('avx2') ? 'avx2' : flags.has('avx') ? 'avx' : flags.has('sse2') ? 'sse' : 'unknown';
  return { cpu: os.cpus()[0]?.model ?? 'unknown', simd, cores: os.availableParallelism() };
}

const h = host();
console.log(`host: ${h.cpu}, ${h.simd}, ${h.cores} cores; node ${process.version}`);
const backend = await selectBackend((process.env.TFJS_BACKEND as 'auto') ?? 'auto', Number(args.threads));
const spec = Value.Default(ExperimentSpec, {
  dataset: 'bench', model: 'unet', epochs: Number(args.epochs), lr: 0.003, tileSize: Number(args.tile), batchSize: 4,
  stepsPerEpoch: Number(args.steps), baseFilters: Number(args.filters), depth: Number(args.depth), seed: 1,
}) as ExperimentSpec;

let t = performance.now();
const shape: [number, number, number] = [Number(args.planes), 1303, 912];
const kidney = generateSyntheticVolume({ shape, seed: 5, id: 'kidney-sized' });
const trainVolume = generateSyntheticVolume({ shape: [48, 384, 384], seed: 6, id: 'train' });
console.log(`synthetic volumes: validation ${shape.join(' x ')} (${(kidney.shape[0] * 1303 * 912 / 1e6).toFixed(0)} M voxels), built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
t = performance.now();
await kidney.foregroundIndex();
console.log(`foreground index of the validation volume: ${((performance.now() - t) / 1000).toFixed(1)} s (stored at import for real volumes)`);

const reports: EpochReport[] = [];
await train({ spec, train: [trainVolume], validation: [kidney], onEpoch: async (r) => void reports.push(r) });
for (const e of reports) console.log(`epoch ${e.epoch}: ${(e.durationMs / 1000).toFixed(1)} s, validation ${(e.validationMs! / 1000).toFixed(2)} s = ${(100 * e.validationMs! / e.durationMs).toFixed(1)} %`);
// The last epoch: the first also pays for the inference kernels' first use.
const r = reports[reports.length - 1];
const budget = validationBudgetOf(spec);
const share = r.validationMs! / r.durationMs;
// Whole-volume validation at the crops' measured rate per predicted voxel (one xy pass, overlap 0.25).
const T = spec.tileSize;
const wholeVoxels = shape[0] * tileStarts(shape[1], T, 0.25).length * tileStarts(shape[2], T, 0.25).length * T * T;
const wholeMs = (r.validationMs! / r.validationVoxels!) * wholeVoxels;
const trainMs = r.durationMs - r.validationMs!;
const wholeShare = wholeMs / (wholeMs + trainMs);
const voxelShare = (v: number) => (v * PREDICTED_VOXEL_COST) / (v * PREDICTED_VOXEL_COST + epochTrainingVoxels(spec));
console.log(`spec: tile ${T}, batch ${spec.batchSize}, ${spec.stepsPerEpoch} steps, ${spec.baseFilters} filters, depth ${spec.depth}; backend ${backend}`);
console.log(`default budget: ${budget.maxVoxels.toLocaleString('en-US')} voxels (k x ${epochTrainingVoxels(spec).toLocaleString('en-US')} training voxels)`);
console.log(`epoch ${(r.durationMs / 1000).toFixed(1)} s: training ${(trainMs / 1000).toFixed(1)} s, validation ${(r.validationMs! / 1000).toFixed(2)} s on ${r.validationCrops} crops (${r.validationVoxels!.toLocaleString('en-US')} voxels predicted) = ${(100 * share).toFixed(1)} % of the epoch (voxel model: ${(100 * voxelShare(r.validationVoxels!)).toFixed(1)} %)`);
console.log(`whole volume instead: ${wholeVoxels.toLocaleString('en-US')} voxels predicted, about ${(wholeMs / 1000).toFixed(0)} s = ${(100 * wholeShare).toFixed(1)} % of the epoch`);
console.log(JSON.stringify({
  ...h, backend, validationShape: shape, tileSize: T, stepsPerEpoch: spec.stepsPerEpoch, baseFilters: spec.baseFilters, depth: spec.depth,
  budgetVoxels: budget.maxVoxels, crops: r.validationCrops, validationVoxels: r.validationVoxels,
  epochMs: Math.round(r.durationMs), validationMs: Math.round(r.validationMs!), validationShare: +share.toFixed(4),
  voxelModelShare: +voxelShare(r.validationVoxels!).toFixed(4), wholeVolumeShareEstimate: +wholeShare.toFixed(4),
}));
