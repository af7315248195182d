// `npm run bench -- dashboard-render`: how fast the dashboard draws, in Debian's Chromium, against
// bare pages that draw the same pixels with no framework (same API, same CSS, same tiles):
//  - the leaderboard of 1,000 experiments (seeded straight into the `bench` stack's database): time
//    from navigation to all rows in the DOM, and to re-sort and filter them;
//  - the slice viewer on a 512 x 512 volume with truth and prediction: time from navigation to the
//    first slice drawn, to the next slice (prefetched) and to a far slice (not cached).
// Options: --runs N (page loads and slice switches per figure, default 7). Last line: one JSON object.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { stackDown, stackProfile, stackStatus, stackUp, REPO_ROOT } from '@capillary/devstack';
import { BARE_LEADERBOARD, BARE_SLICES } from './_dashboard-render-bare.ts';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const RUNS = Math.max(3, Number(opts.runs));
const ROWS = 1000;
const SHAPE: [number, number, number] = [32, 512, 512];
const PREFIX = 'bench-lb';
const DATASET = 'bench-viewer-512';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 10) / 10;
};
const log = (m: string) => console.log(`[dashboard-render] ${m}`);

const profile = stackProfile('bench');
const before = await stackStatus(profile);
Object.assign(process.env, await stackUp(profile, (l) => log(`stack: ${l}`)), { LOG_LEVEL: 'warn' });
const { prisma } = await import('@capillary/db');
const { startApi } = await import('../test/harness.ts');
const { openBrowser, signIn } = await import('../test/browser/browser.ts');
const { seedBoard } = await import('../test/browser/fixtures.ts');
const { seedSyntheticDataset } = await import('@capillary/cli/demo');
const { ZarrSliceWriter } = await import('@capillary/volumes');
const { predictionMaskKey } = await import('@capillary/storage');
const { sliceWindow } = await import('@capillary/volumes');

log('building the dashboard');
execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: path.join(REPO_ROOT, 'apps/dashboard'), stdio: 'inherit' });
const cssFile = readdirSync(path.join(REPO_ROOT, 'apps/dashboard/dist/assets')).find((f) => f.startsWith('index-') && f.endsWith('.css'))!;

const db = prisma();
log(`seeding ${ROWS} experiments`);
// The bench database holds nothing else worth keeping: start from exactly this board.
await db.experiment.deleteMany({ where: { dataset: { name: `${PREFIX}-ds` } } });
await db.sweep.deleteMany({ where: { name: { startsWith: `${PREFIX} ` } } });
await seedBoard(db, { prefix: PREFIX, count: ROWS, perSweep: 8, seed: 42 });

log(`seeding a ${SHAPE.join(' x ')} volume and a prediction of it`);
await seedSyntheticDataset(DATASET, { seed: 9, trainVolumes: 0, validationVolumes: 1, shape: SHAPE });
const ds = await db.dataset.findUniqueOrThrow({ where: { name: DATASET }, include: { volumes: true } });
const volume = ds.volumes[0];
let prediction = await db.prediction.findFirst({ where: { datasetName: DATASET, status: 'succeeded' } });
if (!prediction) {
  const { generateSyntheticVolume } = await import('@capillary/volumes');
  const labels = generateSyntheticVolume({ shape: SHAPE, seed: 9 * 1000 }).labelData!;
  const [Z, Y, X] = SHAPE;
  const id = randomUUID();
  const maskKey = predictionMaskKey(id, 1, volume.name);
  const w = await ZarrSliceWriter.create(maskKey, { shape: SHAPE, dtype: 'uint8' });
  // The truth moved by two voxels: TP, FP and FN on every slice that has vessels.
  for (let z = 0; z < Z; z++) {
    const s = sliceWindow(labels, SHAPE, 'z', z, 1);
    const m = new Uint8Array(Y * X);
    for (let i = 2 * X; i < m.length; i++) m[i] = s[i - 2 * X - 2] ?? 0;
    await w.write(m);
  }
  await w.close();
  const experiment = await db.experiment.create({
    data: { name: 'bench viewer', spec: {}, datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.001, augmentationP: 0, batchSize: 1, seed: 0, status: 'succeeded' },
  });
  prediction = await db.prediction.create({
    data: { id, experimentId: experiment.id, datasetName: DATASET, status: 'succeeded', finishedAt: new Date(), outputs: [{ volumeId: volume.id, volume: volume.name, role: volume.role, maskKey, shape: SHAPE, foregroundVoxels: 1, surfaceDice: null, dice: null }] },
  });
}

const api = await startApi();
const t0 = performance.now();
const lb = (await api.fetch("/leaderboard?limit=5000").then((r) => r.json())) as { rows: unknown[] };
const leaderboardApiMs = performance.now() - t0;
// Other benches may have left a few experiments in this database: every row is drawn either way.
const N = lb.rows.length;
if (N < ROWS) throw new Error(`leaderboard has ${N} rows, expected at least ${ROWS}`);

// The probes below are strings evaluated in the page, which the dashboard's CSP (no eval) would
// refuse; the CSP changes nothing that is timed.
const browser = await openBrowser(api.url, { bypassCSP: true });
const { context } = browser;
// Reads need a sign-in: the session cookie serves every page of the context.
await signIn(browser.page, api.key);

// Code for the page goes as text: tsx wraps functions in helpers that do not exist in the browser.

/** Time from navigation start to the first paint after the page holds `count` matches of `selector`. */
async function timeToElements(page: Page, url: string, selector: string, count: number): Promise<number> {
  // In the DOM is not yet on screen: the time taken is that of the first frame painted after the
  // condition holds (rAF runs before that frame's paint, a timeout queued there runs after it).
  await page.addInitScript({
    content: `new MutationObserver((_, o) => {
      if (document.querySelectorAll(${JSON.stringify(selector)}).length >= ${count}) {
        o.disconnect();
        window.__inDom = performance.now();
        requestAnimationFrame(() => setTimeout(() => { window.__shown = performance.now(); }, 0));
      }
    }).observe(document, { childList: true, subtree: true, attributes: true });`,
  });
  await page.goto(url);
  await page.waitForFunction('window.__shown !== undefined', undefined, { timeout: 60_000 });
  return page.evaluate('window.__shown') as Promise<number>;
}

/**
 * Every measured page, dashboard or bare, serves the bare pages from routes of its own: the bare
 * pages need them (same origin as the API, no CSP for their inline scripts), and the dashboard pays
 * the same request interception, so both are measured alike.
 */
async function newPage(): Promise<Page> {
  const page = await context.newPage();
  await page.route('**/bare/leaderboard', (r) => r.fulfill({ contentType: 'text/html', body: BARE_LEADERBOARD(`/assets/${cssFile}`) }));
  await page.route('**/bare/slices*', (r) => r.fulfill({ contentType: 'text/html', body: BARE_SLICES }));
  return page;
}

/** Loads `url` in a fresh tab RUNS + 1 times (the first, with a cold cache, reported apart). */
async function loads(url: string, selector: string, count: number) {
  const times: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const page = await newPage();
    times.push(await timeToElements(page, url, selector, count));
    await page.close();
  }
  return { coldMs: Math.round(times[0]), warmMs: median(times.slice(1)) };
}

/** Time from a change made in the page to the first moment `done` holds, measured inside the page. */
async function timeInPage(page: Page, act: string, done: string): Promise<number> {
  return page.evaluate(`new Promise((resolve) => {
    const isDone = () => (${done});
    const t = performance.now();
    let settled = false;
    const finish = () => { if (!settled && isDone()) { settled = true; o.disconnect(); resolve(performance.now() - t); } };
    const o = new MutationObserver(finish);
    o.observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
    { ${act} }
    const poll = () => { finish(); if (!settled) requestAnimationFrame(poll); };
    poll();
  })`) as Promise<number>;
}

log('leaderboard: first render');
const lbDashTop = await loads('/', 'table.lb tbody tr', 20);
const lbDash = await loads('/', 'table.lb tbody tr', N);
const lbBare = await loads('/bare/leaderboard', 'table.lb tbody tr', N);

log('leaderboard: sort and filter');
const page = await newPage();
await page.goto('/');
await page.waitForFunction(`document.querySelectorAll('table.lb tbody tr').length >= ${N}`);
const sorts: number[] = [];
const filters: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const first = await page.getAttribute('table.lb tbody tr', 'data-experiment');
  sorts.push(await timeInPage(page, `document.querySelector('button[data-sort="lr"]').click()`, `document.querySelector('table.lb tbody tr')?.getAttribute('data-experiment') !== ${JSON.stringify(first)}`));
  filters.push(
    await timeInPage(
      page,
      `const i = document.querySelector('input[data-filter="score"]'); i.value = '>0.5'; i.dispatchEvent(new Event('input', { bubbles: true }))`,
      `document.querySelectorAll('table.lb tbody tr').length < ${N}`,
    ),
  );
  await timeInPage(page, `const i = document.querySelector('input[data-filter="score"]'); i.value = ''; i.dispatchEvent(new Event('input', { bubbles: true }))`, `document.querySelectorAll('table.lb tbody tr').length === ${N}`);
}
await page.close();

log('slice viewer: first render');
const q = `volume=${volume.id}&prediction=${prediction.id}&axis=xy&index=0`;
const viewerUrl = `/app/predictions?${q}`;
const sliceDash = await loads(viewerUrl, 'canvas[data-rendered="xy:0"]', 1);
const sliceBare = await loads(`/bare/slices?${q}`, 'canvas[data-rendered="xy:0"]', 1);

log('slice viewer: switching');
const v = await newPage();
await v.goto(viewerUrl);
await v.waitForSelector('canvas[data-rendered="xy:0"]');
const setSlice = (i: number) => `const s = document.querySelector('[data-testid="slice-slider"]'); s.value = '${i}'; s.dispatchEvent(new Event('input', { bubbles: true }))`;
const rendered = (i: number) => `document.querySelector('canvas[data-testid="slice-canvas"]').dataset.rendered === 'xy:${i}'`;
const next: number[] = [];
const jump: number[] = [];
for (let i = 1; i <= RUNS; i++) {
  await v.waitForTimeout(150); // let the prefetch of the neighbours land, as it does between key presses
  next.push(await timeInPage(v, setSlice(i), rendered(i)));
}
// Far, never-visited slices (the first pass only went to RUNS + 2).
for (let k = 0; k < RUNS; k++) {
  const i = SHAPE[0] - 1 - k * 3;
  jump.push(await timeInPage(v, setSlice(i), rendered(i)));
  await v.waitForTimeout(150);
}
await v.close();
const b = await newPage();
await b.goto(`/bare/slices?${q}`);
await b.waitForSelector('canvas[data-rendered="xy:0"]');
const bareSwitch: number[] = [];
for (let k = 1; k <= RUNS; k++) bareSwitch.push(await timeInPage(b, `window.show(${k})`, `document.querySelector('canvas').dataset.rendered === 'xy:${k}'`));
await b.close();

await browser.close();
await api.close();
if (Object.values(before).some((s) => s === 'stopped')) await stackDown(profile);

const result = {
  bench: 'dashboard-render',
  browser: 'Debian Chromium (headless, --disable-gpu)',
  cpus: os.cpus().length,
  runs: RUNS,
  leaderboard: {
    rows: N,
    apiMs: Math.round(leaderboardApiMs),
    // Painted with its top rows (the dashboard paints 60 first, the rest in the next frame), and
    // with every row in the page.
    topRowsPaintedMs: { dashboard: lbDashTop, bare: lbBare },
    allRowsPaintedMs: { dashboard: lbDash, bare: lbBare },
    resortMs: median(sorts),
    filterMs: median(filters),
  },
  slice: {
    size: [SHAPE[1], SHAPE[2]],
    layers: ['image', 'label', 'prediction'],
    firstSlicePaintedMs: { dashboard: sliceDash, bare: sliceBare },
    switchMs: { dashboardNext: median(next), dashboardJump: median(jump), bare: median(bareSwitch) },
  },
};
console.log(JSON.stringify(result));
process.exit(0);
