// `npm run bench -- surface-dice`: speed and memory of the streaming surface Dice against a
// whole-volume NumPy/SciPy reference (bench/surface_dice_reference.py) on the `large` metric case
// and on a deterministic 512 x 1024 x 1024 synthetic vessel volume. Options: --depth N (synthetic
// depth, default 512), --ref-depth N (cap the reference's depth; it is capped anyway to what fits in
// 60% of the memory available). Last line: one JSON object.
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SURFACE_AREA_TABLE, SurfaceDiceStream, scoreSubmission } from '@capillary/metric';
import { Rng } from '@capillary/volumes';
import { ensurePythonModules } from './_debian.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const cache = path.join(here, '.cache', 'surface-dice');
const PYTHON = '/usr/bin/python3';
const H = 1024;
const W = 1024;
const SHALLOW_DEPTH = 64;
/** Peak bytes per voxel of the whole-volume reference, measured (11.4 GB at 512 x 1024 x 1024). */
const REF_BYTES_PER_VOXEL = 23;

const { values: opts } = parseArgs({
  options: {
    child: { type: 'string' },
    depth: { type: 'string', default: '512' },
    'ref-depth': { type: 'string' },
    'write-raw': { type: 'string' },
  },
});

/** The project's seeded generator, so every run sees the same values. */
function prng(seed: number): () => number {
  const r = Rng.of(seed);
  return () => r.float();
}

interface Tube {
  x0: number; y0: number; vx: number; vy: number; amp: number; freq: number; phase: number;
  r0: number; z0: number; z1: number;
  /** Prediction perturbation: shift, radius scale, and a z range where it is missed. */
  sx: number; sy: number; rs: number; missFrom: number; missTo: number; falsePositive: boolean;
}

/** Vessel-like tubes (wobbling, varying radius) plus a few thick trunks; the prediction perturbs them. */
function makeTubes(depth: number): Tube[] {
  const rand = prng(20240206);
  const tubes: Tube[] = [];
  for (let i = 0; i < 140; i++) {
    const thick = i < 8;
    const z0 = Math.floor(rand() * depth * 0.3);
    const missFrom = rand() < 0.15 ? Math.floor(rand() * depth) : -1;
    tubes.push({
      x0: rand() * W, y0: rand() * H, vx: (rand() - 0.5) * 1.2, vy: (rand() - 0.5) * 1.2,
      amp: rand() * 40, freq: 0.005 + rand() * 0.03, phase: rand() * 6.28,
      r0: thick ? 25 + rand() * 35 : 1.5 + rand() * 9, z0, z1: z0 + Math.floor(depth * (0.4 + rand() * 0.7)),
      sx: Math.round((rand() - 0.5) * 2.4), sy: Math.round((rand() - 0.5) * 2.4), rs: 0.8 + rand() * 0.4,
      missFrom, missTo: missFrom + Math.floor(rand() * 40), falsePositive: i >= 125,
    });
  }
  return tubes;
}

function disc(out: Uint8Array, cx: number, cy: number, r: number): void {
  for (let y = Math.max(0, Math.ceil(cy - r)); y <= Math.min(H - 1, Math.floor(cy + r)); y++) {
    const half = Math.sqrt(Math.max(0, r * r - (y - cy) ** 2));
    const a = Math.max(0, Math.ceil(cx - half));
    const b = Math.min(W - 1, Math.floor(cx + half));
    if (b >= a) out.fill(1, y * W + a, y * W + b + 1);
  }
}

/** Fills slice z of the synthetic truth and prediction. */
function syntheticSlice(tubes: Tube[], z: number, truth: Uint8Array, pred: Uint8Array): void {
  truth.fill(0);
  pred.fill(0);
  for (const t of tubes) {
    if (z < t.z0 || z > t.z1) continue;
    const cx = t.x0 + t.vx * z + t.amp * Math.sin(t.freq * z + t.phase);
    const cy = t.y0 + t.vy * z + t.amp * Math.cos(t.freq * z + t.phase);
    const r = t.r0 * (1 + 0.3 * Math.sin(0.02 * z + t.phase));
    if (!t.falsePositive) disc(truth, cx, cy, r);
    if (z < t.missFrom || z > t.missTo) disc(pred, cx + t.sx, cy + t.sy, r * t.rs);
  }
  const rand = prng(1000003 * (z + 1));
  for (let i = 0; i < 300; i++) pred[Math.floor(rand() * H * W)] = 1;
}

function rssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Child mode: stream the synthetic volume; time only `push`/`result`; optionally save raw slices. */
async function runSynthetic(depth: number, rawDir?: string) {
  const tubes = makeTubes(512);
  const truth = new Uint8Array(H * W);
  const pred = new Uint8Array(H * W);
  const stream = new SurfaceDiceStream(H, W);
  const raw = rawDir ? [createWriteStream(path.join(rawDir, 'truth.u8')), createWriteStream(path.join(rawDir, 'pred.u8'))] : [];
  let scoring = 0;
  let foreground = 0;
  const started = performance.now();
  for (let z = 0; z < depth; z++) {
    syntheticSlice(tubes, z, truth, pred);
    if (raw.length) {
      if (!raw[0].write(Buffer.from(truth))) await once(raw[0], 'drain');
      if (!raw[1].write(Buffer.from(pred))) await once(raw[1], 'drain');
    }
    const t = performance.now();
    stream.push(truth, pred);
    scoring += performance.now() - t;
    if (z % 16 === 0) for (let i = 0; i < truth.length; i++) foreground += truth[i];
  }
  const t = performance.now();
  const result = stream.result();
  scoring += performance.now() - t;
  for (const s of raw) {
    s.end();
    await once(s, 'finish');
  }
  const voxels = depth * H * W;
  console.log(JSON.stringify({
    depth, voxels, ...result, scoreSeconds: scoring / 1000, totalSeconds: (performance.now() - started) / 1000,
    voxelsPerSec: voxels / (scoring / 1000), truthFraction: foreground / (Math.ceil(depth / 16) * H * W),
    peakRssMB: rssMB(),
  }));
}

function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/** Runs this file again as a child so each measurement has its own peak RSS. */
function child(args: string[]): Record<string, any> {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    encoding: 'utf8', maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed:\n${r.stderr}`);
  return lastJson(r.stdout);
}

function reference(args: string[]): Record<string, any> {
  return lastJson(execFileSync(PYTHON, [path.join(here, 'surface_dice_reference.py'), '--table', path.join(cache, 'table.json'), ...args], {
    encoding: 'utf8', maxBuffer: 1 << 24,
  }));
}

const fmt = (n: number) => (n / 1e6).toFixed(1) + ' M voxels/s';

async function main() {
  ensurePythonModules({ numpy: 'python3-numpy', scipy: 'python3-scipy' });
  const depth = Number(opts.depth);
  mkdirSync(cache, { recursive: true });
  writeFileSync(path.join(cache, 'table.json'), JSON.stringify(Array.from(SURFACE_AREA_TABLE)));
  const out: Record<string, unknown> = { bench: 'surface-dice' };

  const large = path.join(repoRoot, '../shared/metric-cases/large');
  if (existsSync(large)) {
    const expected = JSON.parse(readFileSync(path.join(large, 'expected.json'), 'utf8')) as { score: number; shapes: Record<string, number[]> };
    const voxels = Object.values(expected.shapes).reduce((s, [d, h, w]) => s + d * h * w, 0);
    const t = performance.now();
    const got = await scoreSubmission(path.join(large, 'solution.csv'), path.join(large, 'submission.csv'));
    const seconds = (performance.now() - t) / 1000;
    const ref = reference(['csv', path.join(large, 'solution.csv'), path.join(large, 'submission.csv')]);
    console.log(`large case (${voxels} voxels): stream ${got.score} in ${seconds.toFixed(3)} s incl. CSV+RLE (${fmt(voxels / seconds)}); ` +
      `reference ${ref.score} in ${ref.metricSeconds.toFixed(3)} s metric only (${fmt(voxels / ref.metricSeconds)}); official ${expected.score}`);
    out.large = { voxels, score: got.score, official: expected.score, seconds, referenceScore: ref.score, referenceMetricSeconds: ref.metricSeconds };
  } else {
    console.warn(`metric-cases not found at ${large}: skipping the large case`);
  }

  // The reference holds whole volumes (~23 bytes per voxel): run it on the full depth when this
  // shared machine has room for that, on fewer slices otherwise, and say so.
  const refDepth = Math.min(depth, Number(opts['ref-depth'] ?? depth), Math.floor((0.6 * freemem()) / (REF_BYTES_PER_VOXEL * H * W)));
  if (refDepth < depth) {
    console.log(`reference on the first ${refDepth} slices only (--ref-depth, or memory: the whole-volume version needs ` +
      `~${REF_BYTES_PER_VOXEL} bytes per voxel, ${((depth * H * W * REF_BYTES_PER_VOXEL) / 2 ** 30).toFixed(1)} GiB at depth ${depth}; ` +
      `${(freemem() / 2 ** 30).toFixed(1)} GiB available)`);
  }
  // Same slices for both sides: the child writes them, Python reads them, then they are deleted.
  const rawDir = path.join(cache, 'raw');
  mkdirSync(rawDir, { recursive: true });
  let same: Record<string, any>;
  let ref: Record<string, any>;
  try {
    same = child(['--child', 'synthetic', '--depth', String(refDepth), '--write-raw', rawDir]);
    ref = reference(['raw', path.join(rawDir, 'truth.u8'), path.join(rawDir, 'pred.u8'), String(refDepth), String(H), String(W)]);
  } finally {
    rmSync(rawDir, { recursive: true, force: true });
  }
  const refVps = (refDepth * H * W) / ref.metricSeconds;
  console.log(`synthetic ${refDepth} x ${H} x ${W}: stream ${same.surfaceDice} at ${fmt(same.voxelsPerSec)}; ` +
    `reference ${ref.score} at ${fmt(refVps)} (${ref.metricSeconds.toFixed(1)} s), peak RSS ${ref.peakRssMB.toFixed(0)} MB`);
  if (Math.abs(same.surfaceDice - ref.score) > 1e-9) throw new Error(`stream and reference disagree: ${same.surfaceDice} vs ${ref.score}`);

  // Stream-only runs (nothing written) at two depths: peak RSS must not grow with depth.
  const shallow = child(['--child', 'synthetic', '--depth', String(SHALLOW_DEPTH)]);
  const full = child(['--child', 'synthetic', '--depth', String(depth)]);
  console.log(`synthetic ${depth} x ${H} x ${W} (${(100 * full.truthFraction).toFixed(1)}% vessel): stream ${full.surfaceDice} ` +
    `(voxel Dice ${full.dice.toFixed(4)}) at ${fmt(full.voxelsPerSec)}, ${full.scoreSeconds.toFixed(1)} s scoring, ` +
    `${full.totalSeconds.toFixed(1)} s with generation`);
  console.log(`stream peak RSS: ${shallow.peakRssMB.toFixed(0)} MB at depth ${SHALLOW_DEPTH}, ${full.peakRssMB.toFixed(0)} MB at depth ${depth}`);

  Object.assign(out, {
    shape: [depth, H, W],
    surfaceDice: full.surfaceDice,
    dice: full.dice,
    truthFraction: full.truthFraction,
    voxelsPerSec: full.voxelsPerSec,
    referenceVoxelsPerSec: refVps,
    speedup: full.voxelsPerSec / refVps,
    speedupSameVolume: same.voxelsPerSec / refVps,
    peakRssMB: full.peakRssMB,
    peakRssMBByDepth: { [SHALLOW_DEPTH]: shallow.peakRssMB, [depth]: full.peakRssMB },
    referenceDepth: refDepth,
    referencePeakRssMB: ref.peakRssMB,
    referenceScore: ref.score,
    streamScoreAtReferenceDepth: same.surfaceDice,
  });
  console.log(JSON.stringify(out));
}

if (opts.child === 'synthetic') await runSynthetic(Number(opts.depth), opts['write-raw']);
else await main();
