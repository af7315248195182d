/**
 * Training-step and inference benchmark of the engine against a PyTorch reference (same networks,
 * same batch, same loss, Adam), each variant in its own process so peak RSS is its own.
 *
 *   npm run bench -- train-step [--steps 4] [--threads 2] [--variants unet,attention-unet,unet25d] [--profile]
 *
 * `--profile` adds, per variant, the time of every tfjs kernel over one more step and inference
 * (exclusive of the kernels it calls). `TFJS_BACKEND` names the engine's backend (default auto).
 *
 * Networks: U-Net with 4 levels and 16 base filters on 256 x 256 tiles, batch 4; the attention
 * variant; the 2.5D variant (5 slices as channels). The reference is Debian's PyTorch with
 * OpenBLAS (fetched into bench/.cache with apt-get download when missing), on the same threads.
 * Prints human lines, then one JSON object on the last line; ratios are for the U-Net:
 * trainRatio = PyTorch step time / ours, inferRatio likewise, rssRatio = our peak RSS / PyTorch's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePythonModules } from './_debian.ts';
import { benchArgs, integerArg } from './_args.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cache = path.join(here, '.cache', 'train-step');
const BATCH = 4;
const TILE = 256;
const BASE = 16;
const DEPTH = 4;
const VARIANTS = { unet: { model: 'unet', k: 1 }, 'attention-unet': { model: 'attention-unet', k: 1 }, unet25d: { model: 'unet25d', k: 5 } } as const;
type Variant = keyof typeof VARIANTS;
// --child and --batch are how main() starts each variant's own process.
const { values: opts } = benchArgs({
  options: {
    steps: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
    profile: { type: 'boolean', default: false },
    child: { type: 'string' },
    batch: { type: 'string', default: '' },
  },
});
const STEPS = integerArg('steps', opts.steps);
const THREADS = integerArg('threads', opts.threads);
const VARIANT_LIST = opts.variants.split(',') as Variant[];
for (const v of VARIANT_LIST) {
  if (!(v in VARIANTS)) {
    console.error(`--variants: unknown variant ${v} (expected ${Object.keys(VARIANTS).join(', ')})`);
    process.exit(2);
  }
}

interface Measured {
  trainMs: number;
  trainCpuMs: number;
  inferMs: number;
  inferCpuMs: number;
  peakRssMb: number;
  lastLoss: number;
}

/** The widest vector extension in /proc/cpuinfo (oneDNN and PyTorch use it; wasm SIMD is 128 bits whatever it is). */
function simdWidth(): { simd: string; simdBits: number } {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? '').trim().split(/\s+/));
  if (flags.has('avx512f')) return { simd: 'avx512', simdBits: 512 };
  if (flags.has('avx2')) return { simd: 'avx2', simdBits: 256 };
  if (flags.has('avx')) return { simd: 'avx', simdBits: 256 };
  if (flags.has('sse2')) return { simd: 'sse', simdBits: 128 };
  return { simd: 'unknown', simdBits: 0 };
}

/**
 * Wraps every kernel of the active backend to time it, exclusive of the kernels it calls itself
 * (project kernels compose others); returns a function that reports and resets the totals.
 */
function profileKernels(tf: typeof import('@tensorflow/tfjs-core')): () => Record<string, { ms: number; calls: number }> {
  const totals = new Map<string, { ms: number; calls: number }>();
  const stack: number[] = [];
  const seen = new Set<object>();
  for (const backendName of new Set([tf.getBackend(), 'wasm'])) {
    for (const k of tf.getKernelsForBackend(backendName)) {
      if (seen.has(k)) continue;
      seen.add(k);
      const inner = k.kernelFunc;
      (k as { kernelFunc: typeof inner }).kernelFunc = (args) => {
        const t = performance.now();
        stack.push(0);
        try {
          return inner(args);
        } finally {
          const total = performance.now() - t;
          const nested = stack.pop()!;
          if (stack.length) stack[stack.length - 1] += total;
          const e = totals.get(k.kernelName) ?? { ms: 0, calls: 0 };
          e.ms += total - nested;
          e.calls++;
          totals.set(k.kernelName, e);
        }
      };
    }
  }
  return () => {
    const out = Object.fromEntries([...totals].sort((a, b) => b[1].ms - a[1].ms).map(([n, e]) => [n, { ms: Math.round(e.ms * 10) / 10, calls: e.calls }]));
    totals.clear();
    return out;
  };
}

/** A fixed batch: smooth random intensities with ~8 % thin bright "vessels" as labels. */
function writeBatch(k: number): string {
  const file = path.join(cache, `batch-k${k}.bin`);
  if (existsSync(file)) return file;
  mkdirSync(cache, { recursive: true });
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const n = BATCH * TILE * TILE;
  const y = new Float32Array(n);
  for (let b = 0; b < BATCH; b++)
    for (let t = 0; t < 12; t++) {
      const [r0, c0, dr, dc] = [rand() * TILE, rand() * TILE, rand() * 2 - 1, rand() * 2 - 1];
      for (let u = 0; u < 400; u++) {
        const r = Math.round(r0 + dr * u);
        const c = Math.round(c0 + dc * u);
        if (r < 0 || c < 0 || r >= TILE || c >= TILE) break;
        for (const [a, bb] of [[0, 0], [0, 1], [1, 0], [1, 1]]) if (r + a < TILE && c + bb < TILE) y[(b * TILE + r + a) * TILE + c + bb] = 1;
      }
    }
  const x = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) x[i * k + j] = 0.4 + 0.3 * y[i] + 0.1 * rand();
  const out = new Float32Array(x.length + y.length);
  out.set(x);
  out.set(y, x.length);
  writeFileSync(file, Buffer.from(out.buffer));
  writeFileSync(`${file}.json`, JSON.stringify({ shape: [BATCH, TILE, TILE, k], baseFilters: BASE, depth: DEPTH }));
  return file;
}

/** Debian's OpenBLAS unpacked next to the benchmark (the system BLAS stays untouched). */
function openblasDir(): string {
  const root = path.join(here, '.cache', 'openblas');
  const lib = path.join(root, 'root', 'usr', 'lib', 'x86_64-linux-gnu', 'openblas-pthread');
  if (existsSync(path.join(lib, 'libblas.so.3'))) return lib;
  mkdirSync(root, { recursive: true });
  if (!readdirSync(root).some((f) => f.endsWith('.deb'))) execFileSync('apt-get', ['download', 'libopenblas0-pthread'], { cwd: root, stdio: 'ignore' });
  const deb = readdirSync(root).find((f) => f.endsWith('.deb'))!;
  execFileSync('dpkg-deb', ['-x', path.join(root, deb), path.join(root, 'root')]);
  return lib;
}

async function child(variant: Variant, file: string, steps: number, threads: number): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const { selectBackend, SegmentationModel, trainStep, Adam } = await import('@capillary/engine');
  const backend = await selectBackend((process.env.TFJS_BACKEND ?? 'auto') as never, threads);
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8'));
  const [n, h, w, k] = meta.shape as [number, number, number, number];
  const raw = new Float32Array(readFileSync(file).buffer.slice(0));
  const x = tf.tensor4d(raw.subarray(0, n * h * w * k), [n, h, w, k]);
  const y = tf.tensor4d(raw.subarray(n * h * w * k), [n, h, w, 1]);
  const v = VARIANTS[variant];
  const model = new SegmentationModel({ model: v.model, encoder: 'plain', inChannels: k, baseFilters: BASE, depth: DEPTH, normalization: 'batch', dropout: 0, seed: 0 });
  const adam = new Adam(model.params.trainable());
  const step = () => trainStep(model, adam, x, y, { loss: 'bce-dice', learningRate: 1e-3, dropoutSeed: 0 });
  // Fastest of the timed repetitions (wall and CPU time): the machine is shared, and the minimum is
  // the least disturbed measurement of both sides.
  const timed = async (f: () => Promise<unknown>) => {
    let wall = Infinity;
    let cpu = Infinity;
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      await f();
      const cu = process.cpuUsage(c);
      wall = Math.min(wall, performance.now() - t);
      cpu = Math.min(cpu, (cu.user + cu.system) / 1000);
    }
    return [wall, cpu];
  };
  await step();
  await step();
  let lastLoss = 0;
  const [trainMs, trainCpuMs] = await timed(async () => (lastLoss = await step()));
  const infer = async () => {
    const p = model.predict(x);
    await p.data();
    p.dispose();
  };
  await infer();
  const [inferMs, inferCpuMs] = await timed(infer);
  const m: Measured & { backend: string; profile?: Record<string, unknown> } = { trainMs, trainCpuMs, inferMs, inferCpuMs, peakRssMb: process.resourceUsage().maxRSS / 1024, lastLoss, backend };
  if (opts.profile) {
    // After the timed runs, so wrapping costs nothing there: one step and one inference, per kernel.
    const report = profileKernels(tf);
    const t = performance.now();
    await step();
    const stepMs = performance.now() - t;
    const trainKernels = report();
    const u = performance.now();
    await infer();
    const inferStepMs = performance.now() - u;
    m.profile = { stepMs, train: trainKernels, inferMs: inferStepMs, infer: report() };
  }
  console.log(JSON.stringify(m));
  process.exit(0);
}

function lastJson(out: string, what: string): Record<string, unknown> {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${what} printed no result:\n${out.slice(-2000)}`);
  return JSON.parse(line);
}

async function main(): Promise<void> {
  ensurePythonModules({ torch: 'python3-torch', numpy: 'python3-numpy' });
  const steps = STEPS;
  const threads = THREADS;
  const variants = VARIANT_LIST;
  const blas = openblasDir();
  const py = '/usr/bin/python3';
  const results: Record<string, { ours: Measured & { backend: string }; torch: Measured & { torch: string; blas: string } }> = {};
  console.log(`train-step: U-Net family, ${DEPTH} levels, ${BASE} base filters, ${TILE}x${TILE}, batch ${BATCH}, fastest of ${steps} timed steps, ${threads} threads`);
  for (const v of variants) {
    const file = writeBatch(VARIANTS[v].k);
    const childArgs = ['--child', v, '--batch', file, '--steps', String(steps), '--threads', String(threads), ...(opts.profile ? ['--profile'] : [])];
    const ours = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...childArgs], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const o = lastJson(ours.stdout + ours.stderr, `engine (${v})`) as never;
    const ref = spawnSync(py, [path.join(here, 'train_step_reference.py'), VARIANTS[v].model, file, String(steps), String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, LD_LIBRARY_PATH: `${blas}:${process.env.LD_LIBRARY_PATH ?? ''}`, OMP_NUM_THREADS: String(threads) },
    });
    const t = lastJson(ref.stdout + ref.stderr, `PyTorch (${v})`) as never;
    results[v] = { ours: o, torch: t };
    const r = results[v];
    console.log(
      `${v.padEnd(15)} ours (${r.ours.backend}): train ${r.ours.trainMs.toFixed(0)} ms (cpu ${r.ours.trainCpuMs.toFixed(0)}), infer ${r.ours.inferMs.toFixed(0)} ms (cpu ${r.ours.inferCpuMs.toFixed(0)}), peak RSS ${r.ours.peakRssMb.toFixed(0)} MB | ` +
        `PyTorch ${r.torch.torch} (${r.torch.blas}): train ${r.torch.trainMs.toFixed(0)} ms (cpu ${r.torch.trainCpuMs.toFixed(0)}), infer ${r.torch.inferMs.toFixed(0)} ms (cpu ${r.torch.inferCpuMs.toFixed(0)}), peak RSS ${r.torch.peakRssMb.toFixed(0)} MB`,
    );
  }
  const ratios = Object.fromEntries(
    Object.entries(results).map(([v, r]) => [
      v,
      {
        trainRatio: r.torch.trainMs / r.ours.trainMs,
        inferRatio: r.torch.inferMs / r.ours.inferMs,
        trainCpuRatio: r.torch.trainCpuMs / r.ours.trainCpuMs,
        inferCpuRatio: r.torch.inferCpuMs / r.ours.inferCpuMs,
        rssRatio: r.ours.peakRssMb / r.torch.peakRssMb,
      },
    ]),
  );
  for (const [v, q] of Object.entries(ratios)) {
    console.log(`${v.padEnd(15)} speed vs PyTorch: train ${q.trainRatio.toFixed(2)}x (cpu-time ${q.trainCpuRatio.toFixed(2)}x), infer ${q.inferRatio.toFixed(2)}x (cpu-time ${q.inferCpuRatio.toFixed(2)}x); peak RSS ${q.rssRatio.toFixed(2)}x PyTorch's`);
  }
  const u = results.unet ?? Object.values(results)[0];
  const uq = ratios.unet ?? Object.values(ratios)[0];
  console.log(
    JSON.stringify({
      benchmark: 'train-step',
      backend: u.ours.backend,
      threads,
      ...simdWidth(),
      reference: `PyTorch ${u.torch.torch} + ${u.torch.blas}`,
      trainRatio: uq.trainRatio,
      inferRatio: uq.inferRatio,
      rssRatio: uq.rssRatio,
      trainCpuRatio: uq.trainCpuRatio,
      inferCpuRatio: uq.inferCpuRatio,
      variants: results,
      ratios,
    }),
  );
}

if (opts.child !== undefined) {
  await child(opts.child as Variant, opts.batch, STEPS, THREADS);
} else {
  await main();
}
