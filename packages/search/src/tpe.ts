/**
 * Tree-structured Parzen estimator (TPE; Bergstra et al. 2011) as one pure function: given the
 * search space and the trials that finished (their fields and scores, in the order they finished),
 * the fields of the next trial. It is the independent (per-field) TPE of hyperopt's `tpe.suggest`
 * and of Optuna's `TPESampler(multivariate=False)`, with Optuna's defaults: the finished trials are
 * split into the best gamma(n) ("good") and the rest ("bad"); for each field on its own, a Parzen
 * density l(x) is fitted to the good values and g(x) to the bad ones, `candidates` values are
 * sampled from l, and the one with the largest l(x)/g(x) wins.
 *
 * No I/O and no randomness of its own: every draw comes from the injected uniform stream, fields are
 * visited in name order and floats keep 6 significant digits, exactly like a random sweep's
 * `sampleTrial`. So the same space, observations (in the same order) and stream give the same trial,
 * and while fewer than `startupTrials` scores exist the trial is the very draw a random sweep makes
 * from the same stream.
 */
import type { Distribution, SearchSpace } from '@capillary/contracts';

/** A finished trial: the fields it was given and its score (higher is better: surface Dice). */
export interface TpeObservation {
  params: Record<string, unknown>;
  score: number;
}

export interface TpeOptions {
  /** Below this many scored trials the next one is a plain random draw. */
  startupTrials: number;
  /** How many of n scored trials count as good (default {@link defaultGamma}). */
  gamma?: (n: number) => number;
  /** Values sampled from l(x) per field, of which the best l/g wins (default 24, as Optuna and hyperopt). */
  candidates?: number;
  /** Weight of the prior component of each density (default 1, as Optuna and hyperopt). */
  priorWeight?: number;
}

/** Optuna's default split: the best 10 % of the trials, rounded up, at most 25. */
export const defaultGamma = (n: number): number => Math.min(Math.ceil(0.1 * n), 25);

/** The next trial's fields: a random draw while fewer than `startupTrials` finite scores exist, else TPE. */
export function suggestTpe(space: SearchSpace, observations: readonly TpeObservation[], random: () => number, options: TpeOptions): Record<string, unknown> {
  const scored = observations.filter((o) => Number.isFinite(o.score));
  const fields = (Object.keys(space) as (keyof SearchSpace)[]).sort();
  const out: Record<string, unknown> = {};
  // With nothing scored, l and g would both be the prior alone: TPE degenerates to a random draw anyway.
  if (scored.length < Math.max(1, options.startupTrials)) {
    for (const f of fields) out[f] = randomDraw(space[f]!, random);
    return out;
  }
  const n = scored.length;
  const nGood = Math.min(n, Math.max(0, Math.floor((options.gamma ?? defaultGamma)(n))));
  // Sort is stable: equal scores rank in finishing order, so the split depends on nothing else.
  const ranked = scored.map((o, i) => ({ score: o.score, i })).sort((a, b) => b.score - a.score);
  const isGood = new Set(ranked.slice(0, nGood).map((r) => r.i));
  // Both groups stay in finishing order: the bad group's weights decay with age (see ageWeights).
  const good = scored.filter((_, i) => isGood.has(i));
  const bad = scored.filter((_, i) => !isGood.has(i));
  const k = Math.max(1, Math.floor(options.candidates ?? 24));
  const prior = options.priorWeight ?? 1;
  for (const f of fields) {
    const d = space[f]!;
    const l = (g: TpeObservation[]) => g.map((o) => o.params[f]);
    out[f] = d.choice ? suggestChoice(d.choice, l(good), l(bad), random, k, prior) : suggestNumber(d, l(good), l(bad), random, k, prior);
  }
  return out;
}

const round = (x: number) => Number(x.toPrecision(6));
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
/** Index in [0, n) from one uniform; the min guards a stream that returns exactly 1. */
const pick = (u: number, n: number) => Math.min(n - 1, Math.floor(u * n));

/**
 * One random draw, the same arithmetic as `sampleTrial`'s `draw` (Rng.int / Rng.range), plus a clamp:
 * rounding to 6 digits can step past a bound that has more digits.
 */
function randomDraw(d: Distribution, u: () => number): unknown {
  if (d.choice) return d.choice[pick(u(), d.choice.length)];
  if (d.int) return d.int[0] + pick(u(), d.int[1] - d.int[0] + 1);
  if (d.uniform) return clamp(round(d.uniform[0] + (d.uniform[1] - d.uniform[0]) * u()), d.uniform[0], d.uniform[1]);
  const [lo, hi] = d.loguniform!;
  return clamp(round(Math.exp(Math.log(lo) + (Math.log(hi) - Math.log(lo)) * u())), lo, hi);
}

/**
 * Weights of n observations in finishing order (hyperopt's linear forgetting, Optuna's
 * `default_weights`): the newest 25 weigh 1, older ones ramp linearly from 1/n up.
 */
function ageWeights(n: number): number[] {
  if (n <= 25) return Array(n).fill(1);
  const m = n - 25;
  return [...Array.from({ length: m }, (_, i) => (m === 1 ? 1 / n : 1 / n + (i * (1 - 1 / n)) / (m - 1))), ...Array(25).fill(1)];
}

/**
 * Categorical, as Optuna: each observation is a kernel with its choice's weight 1 and every choice
 * smoothed by prior/(n+1), plus a uniform prior kernel; kernels weighted like the numeric ones.
 */
function suggestChoice(choices: readonly unknown[], good: unknown[], bad: unknown[], u: () => number, k: number, prior: number): unknown {
  const c = choices.length;
  const probs = (values: unknown[]) => {
    const idx = values.map((v) => choices.indexOf(v)).filter((i) => i >= 0);
    if (idx.length === 0) return Array<number>(c).fill(1 / c);
    const w = ageWeights(idx.length);
    const counts = Array<number>(c).fill(0);
    idx.forEach((i, j) => (counts[i] += w[j]));
    const sum = w.reduce((x, y) => x + y, 0);
    const total = sum + prior;
    const eps = prior / (idx.length + 1);
    return counts.map((n) => (n + eps * sum) / (total * (1 + c * eps)) + prior / (total * c));
  };
  const l = probs(good);
  const g = probs(bad);
  let best = -1;
  let bestRatio = -Infinity;
  for (let c = 0; c < k; c++) {
    const i = sampleIndex(l, u());
    const ratio = Math.log(l[i]) - Math.log(g[i]);
    if (best < 0 || ratio > bestRatio) [best, bestRatio] = [i, ratio];
  }
  return choices[best];
}

/** A mixture of Gaussians truncated to [lo, hi], in the field's internal (linear or log) space. */
interface Parzen { mus: number[]; sigmas: number[]; weights: number[]; lo: number; hi: number }

/**
 * Optuna's univariate Parzen estimator (prior, magic clip, no endpoints), after hyperopt's
 * `adaptive_parzen_normal`: one kernel per observation, each with the larger gap to its sorted
 * neighbours as bandwidth (the bounds at the ends; the outermost kernels take their inner gap),
 * clipped to [(hi-lo)/min(100, n+2), hi-lo]; plus a prior kernel N((lo+hi)/2, hi-lo). Unlike
 * hyperopt, the prior's mean is not a neighbour: it would narrow the kernels near the middle.
 */
function parzen(xs: number[], lo: number, hi: number, prior: number): Parzen {
  const range = hi - lo;
  const n = xs.length;
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
  const s = [lo, ...order.map((i) => xs[i]), hi];
  const sigmas = Array<number>(n);
  order.forEach((i, j) => (sigmas[i] = Math.max(s[j + 1] - s[j], s[j + 2] - s[j + 1])));
  if (n >= 2) {
    sigmas[order[0]] = s[2] - s[1];
    sigmas[order[n - 1]] = s[n] - s[n - 1];
  }
  const minSigma = range / Math.min(100, n + 2);
  const weights = n ? [...ageWeights(n), prior] : [1]; // with no observation the prior is all there is
  const total = weights.reduce((a, b) => a + b, 0);
  return {
    mus: [...xs, (lo + hi) / 2],
    sigmas: [...sigmas.map((x) => clamp(x, minSigma, range)), range],
    weights: weights.map((w) => w / total),
    lo,
    hi,
  };
}

/** Numbers: the field's internal bounds, its map into them, and back to a value of the space. */
function numericOf(d: Distribution): { lo: number; hi: number; to: (v: number) => number; out: (x: number) => number } {
  // An int kernel covers its integer's whole unit: the bounds widen by a half on each side (Optuna).
  if (d.int) return { lo: d.int[0] - 0.5, hi: d.int[1] + 0.5, to: (v) => v, out: (x) => clamp(Math.round(x), d.int![0], d.int![1]) + 0 };
  if (d.uniform) return { lo: d.uniform[0], hi: d.uniform[1], to: (v) => v, out: (x) => clamp(round(x), d.uniform![0], d.uniform![1]) };
  const [lo, hi] = d.loguniform!;
  return { lo: Math.log(lo), hi: Math.log(hi), to: Math.log, out: (x) => clamp(round(Math.exp(x)), lo, hi) };
}

function suggestNumber(d: Distribution, good: unknown[], bad: unknown[], u: () => number, k: number, prior: number): number {
  const f = numericOf(d);
  if (!(f.hi > f.lo)) return f.out(f.lo); // a degenerate range has one value
  // Values the space cannot hold (missing, non-numeric, <= 0 on a log scale) are left out of that field's fit.
  const xs = (vs: unknown[]) => vs.filter((v): v is number => typeof v === 'number' && Number.isFinite(f.to(v))).map((v) => clamp(f.to(v), f.lo, f.hi));
  const l = parzen(xs(good), f.lo, f.hi, prior);
  const g = parzen(xs(bad), f.lo, f.hi, prior);
  // An int is scored by the mass of its unit, not the density at a point: narrow kernels would overstate it.
  const at = (x: number) => (d.int ? ([f.out(x) - 0.5, f.out(x) + 0.5] as const) : x);
  let best = NaN;
  let bestRatio = -Infinity;
  for (let c = 0; c < k; c++) {
    const j = sampleIndex(l.weights, u());
    const x = sampleTruncated(l.mus[j], l.sigmas[j], l.lo, l.hi, u());
    const ratio = logDensity(l, at(x)) - logDensity(g, at(x));
    if (Number.isNaN(best) || ratio > bestRatio) [best, bestRatio] = [x, ratio];
  }
  return f.out(best);
}

function sampleIndex(weights: number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < weights.length; i++) if (u < (acc += weights[i])) return i;
  return weights.length - 1;
}

/** Inverse-CDF draw from N(mu, sigma) truncated to [lo, hi]: one uniform per draw, so the stream stays in step. */
function sampleTruncated(mu: number, sigma: number, lo: number, hi: number, u: number): number {
  const a = phi((lo - mu) / sigma);
  const b = phi((hi - mu) / sigma);
  return clamp(mu + sigma * phiInv(a + u * (b - a)), lo, hi);
}

/** log of the mixture's density at x, or of its mass on [x0, x1] (each kernel renormalised to [lo, hi]). */
function logDensity(p: Parzen, at: number | readonly [number, number]): number {
  const terms = p.mus.map((mu, i) => {
    const s = p.sigmas[i];
    const z = mass((p.lo - mu) / s, (p.hi - mu) / s);
    const t = typeof at === 'number' ? Math.exp(-0.5 * ((at - mu) / s) ** 2) / (s * Math.sqrt(2 * Math.PI)) : mass((at[0] - mu) / s, (at[1] - mu) / s);
    return Math.log(p.weights[i]) + Math.log(t) - Math.log(z);
  });
  const top = Math.max(...terms);
  return top === -Infinity ? top : top + Math.log(terms.reduce((acc, t) => acc + Math.exp(t - top), 0));
}

/** Phi(b) - Phi(a), computed in whichever tail keeps its precision. */
const mass = (a: number, b: number) => (a > 0 ? phi(-a) - phi(-b) : phi(b) - phi(a));

/** Standard normal CDF through erfc (Numerical Recipes' erfcc, relative error < 1.2e-7 everywhere). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - 0.5 * r : 0.5 * r;
}

/** Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function phiInv(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const e = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((e[0] * q + e[1]) * q + e[2]) * q + e[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
