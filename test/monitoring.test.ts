// The operator's tools in infra/monitoring and infra/k8s, checked against Debian's Prometheus: the
// alerting rules pass `promtool check rules` and their unit tests, and a real Prometheus on loopback
// scrapes a running API with the repo's scrape job and the API's METRICS_TOKEN, loads the rules,
// answers every Grafana panel's query, and returns the queue depth from the KEDA ScaledJob's own
// query; the same scrape without the token is refused.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@capillary/devstack';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { freePort, startApi, tinySpec, waitUntil, type RunningApi } from './harness.ts';

const MONITORING = path.join(REPO_ROOT, 'infra', 'monitoring');
const run = promisify(execFile);

describe('alerting rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: MONITORING });
    expect(stdout).toMatch(/SUCCESS: 4 rules found/);
  });

  it('pass their unit tests on synthetic series', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: MONITORING });
    expect(stdout).toMatch(/SUCCESS/);
  });
});

describe('a real Prometheus scraping the API', () => {
  let api: RunningApi;
  let prometheus: ChildProcess;
  let base: string;
  let dir: string;
  const queued: string[] = [];
  const query = async (q: string) => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  };

  const metricsToken = `monitoring-${randomUUID()}`;

  beforeAll(async () => {
    await seedSyntheticDataset('monitoring-kidney', { seed: 41, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
    api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '500', METRICS_TOKEN: metricsToken });
    dir = mkdtempSync(path.join(tmpdir(), 'capillary-prometheus-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The repo's API job as an operator adds it, with the pod discovery swapped for this API's
    // address and the mounted Secret for a file of the token.
    const jobs = parse(readFileSync(path.join(MONITORING, 'prometheus-scrape.yml'), 'utf8')).scrape_configs as Record<string, any>[];
    const { kubernetes_sd_configs: _sd, relabel_configs: _relabel, ...apiJob } = jobs.find((j) => j.job_name === 'capillary-api')!;
    writeFileSync(path.join(dir, 'metrics-token'), metricsToken);
    const target = { static_configs: [{ targets: [new URL(api.url).host] }] };
    writeFileSync(path.join(dir, 'prometheus.yml'), stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [path.join(MONITORING, 'alerts.yml')],
      scrape_configs: [
        { ...apiJob, ...target, authorization: { ...apiJob.authorization, credentials_file: path.join(dir, 'metrics-token') } },
        // A scraper without the token: its target must be down, not a second copy of the series.
        { job_name: 'no-token', metrics_path: apiJob.metrics_path, ...target },
      ],
    }));
    prometheus = spawn('prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: 'ignore' });
    await waitUntil('Prometheus to be ready', async () => (await fetch(`${base}/-/ready`).then((r) => r.ok, () => false)) || undefined, 60_000, 200);
  });
  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    // Cancelled, so that no later file's workers train them.
    for (const id of queued) await api.request('DELETE', `/experiments/${id}`);
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes with the token from the repo\'s job; without it /metrics is a 401 and the target is down', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-the-metrics-token' }, { authorization: `Bearer ${api.key}` }] as Record<string, string>[]) {
      const res = await fetch(`${api.url}/metrics`, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(await res.text()).not.toContain('capillary_');
    }
    const up = await waitUntil('Prometheus to have scraped both jobs', async () => {
      const r = await query('up');
      const byJob = Object.fromEntries(r.data.result.map((s) => [s.metric.job, Number(s.value[1])]));
      return 'capillary-api' in byJob && 'no-token' in byJob ? byJob : undefined;
    }, 30_000, 250);
    expect(up).toEqual({ 'capillary-api': 1, 'no-token': 0 });
    const targets = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; lastError: string }[] } };
    const refused = targets.data.activeTargets.find((t) => t.labels.job === 'no-token')!;
    expect(refused.lastError).toMatch(/401/);
    // No series reached Prometheus through the scrape without the token.
    expect((await query('count({job="no-token", __name__=~"capillary_.+"})')).data.result).toEqual([]);
  });

  it('the KEDA ScaledJob\'s query returns the jobs that wait for a worker', async () => {
    // Runs queued with no worker up: they wait in the training queue.
    for (const seed of [1, 2, 3]) {
      const res = await api.request('POST', '/experiments', tinySpec('monitoring-kidney', { name: `monitoring-${seed}`, seed }));
      expect(res.status).toBe(201);
      queued.push(res.body.id as string);
    }
    const scaledJob = readFileSync(path.join(REPO_ROOT, 'infra', 'k8s', 'workers', 'gpu', 'scaledjob.yaml'), 'utf8');
    const kedaQuery = /^\s+query: (.+)$/m.exec(scaledJob)![1];
    const waiting = async () => {
      let n = 0;
      for (const kind of ['training', 'prediction'] as const) {
        const counts = await api.app.queues.queue(kind).getJobCounts('wait', 'prioritized', 'delayed');
        n += (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0);
      }
      return n;
    };
    const seen = await waitUntil('Prometheus to report the waiting jobs', async () => {
      const r = await query(kedaQuery);
      const value = Number(r.data.result[0]?.value[1]);
      return value === (await waiting()) ? value : undefined;
    }, 60_000, 500);
    expect(seen).toBeGreaterThanOrEqual(3);
  });

  it('loads the alerting rules, sees the reconciler pass, and answers every Grafana panel', async () => {
    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(['CapillaryJobsWaitingWithoutWorkers', 'CapillaryOutage', 'CapillaryReconcilerNotRunning', 'CapillaryRunFailureRate']);
    const lastPass = await waitUntil('a reconcile pass in Prometheus', async () => Number((await query('max(capillary_reconciler_last_pass_timestamp_seconds)')).data.result[0]?.value[1]) || undefined, 30_000, 500);
    expect(Math.abs(lastPass - Date.now() / 1000)).toBeLessThan(60);
    const dashboard = JSON.parse(readFileSync(path.join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const answered = async () => {
      const titles = new Set<string>();
      for (const panel of dashboard.panels) {
        for (const { expr } of panel.targets) {
          const r = await query(expr);
          expect(r.status, `${panel.title}: ${expr}: ${r.error}`).toBe('success');
          if (r.data.result.length) titles.add(panel.title);
        }
      }
      return titles;
    };
    // Panels of the API's own metrics have data once a few scrapes are in (a rate needs two);
    // epoch durations need a worker's scrape.
    const expected = ['Queue depth per state', 'Runs per status', 'API latency by route (p95)', 'Sources readable by the API'];
    const titles = await waitUntil('the API panels to have data', async () => {
      const t = await answered();
      return expected.every((e) => t.has(e)) ? t : undefined;
    }, 30_000, 1000).catch(() => answered());
    expect([...titles].sort()).toEqual(expect.arrayContaining(expected));
  });
});
