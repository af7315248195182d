// infra/k8s rendered by kustomize (Debian's kubectl) and checked offline: every object against its
// Kubernetes or KEDA schema (kubernetes-models), then against the house rules and what the
// platform needs of it (probes, GPU, scale to zero, hand-over time, secrets by reference, the
// scraper's bearer token for /metrics).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ScaledJob } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { EnvSchema, parseEnv } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { buildApp } from '@capillary/api';
import { REPO_ROOT } from './harness.ts';
import { parsePrometheus } from './prometheus.ts';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };
type Container = { name: string; image: string; env?: { name: string; value?: string; valueFrom?: any }[]; envFrom?: any[]; resources?: any; securityContext?: any; readinessProbe?: any; livenessProbe?: any; ports?: { name?: string; containerPort: number }[] };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledJob': ScaledJob,
};
/**
 * Kinds with no schema package installed here: each is checked field by field by a test below
 * (@kubernetes-models/prometheus-operator would give the PodMonitor its schema).
 */
const CHECKED_BY_TESTS = new Set(['monitoring.coreos.com/v1/PodMonitor']);

/** `kubectl kustomize` of one folder under infra/k8s, as objects. */
function render(folder: string): Manifest[] {
  const text = execFileSync('kubectl', ['kustomize', path.join(REPO_ROOT, 'infra/k8s', folder)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Manifest).filter(Boolean);
}

/** Schema errors of each object (empty when all are valid); a kind without a schema is an error. */
function schemaErrors(objects: Manifest[]): string[] {
  return objects.flatMap((o) => {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model && CHECKED_BY_TESTS.has(`${o.apiVersion}/${o.kind}`)) return [];
    if (!Model) return [`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion}/${o.kind}`];
    try {
      new Model(structuredClone(o)).validate();
      return [];
    } catch (e) {
      return [`${o.kind} ${o.metadata.name}: ${(e as Error).message}`];
    }
  });
}

/** The pod template of a workload: Deployment and Job `spec.template`, ScaledJob `spec.jobTargetRef.template`. */
function podSpec(o: Manifest): any | undefined {
  if (o.kind === 'Deployment' || o.kind === 'Job') return o.spec.template.spec;
  if (o.kind === 'ScaledJob') return o.spec.jobTargetRef.template.spec;
  return undefined;
}
const containersOf = (pod: any): Container[] => [...(pod.initContainers ?? []), ...pod.containers];

const SECRET_NAMES = /(PASSWORD|SECRET|TOKEN|KEY_ID|DATABASE_URL|REDIS_URL)/;

/** Breaches of the house rules: resources, non-root, pinned image tags, secrets by reference only. */
function houseRuleBreaches(objects: Manifest[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata.name}`;
    if (o.kind === 'Secret') out.push(`${where}: a Secret with literal data in the manifests`);
    if (o.kind === 'ConfigMap') {
      for (const k of Object.keys(o.data ?? {})) if (SECRET_NAMES.test(k)) out.push(`${where}: ${k} belongs in a Secret`);
    }
    const pod = podSpec(o);
    if (!pod) continue;
    for (const c of containersOf(pod)) {
      const at = `${where} container ${c.name}`;
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) if (!c.resources?.[kind]?.[r]) out.push(`${at}: no ${kind}.${r}`);
      }
      if (!(c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) out.push(`${at}: not runAsNonRoot`);
      if (c.securityContext?.allowPrivilegeEscalation !== false) out.push(`${at}: privilege escalation allowed`);
      const image = /^(?<name>[^@]+?)(?::(?<tag>[\w][\w.-]*))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/.exec(c.image)?.groups;
      if (!image || (!image.digest && (!image.tag || image.tag === 'latest'))) out.push(`${at}: image ${c.image} is not pinned`);
      for (const e of c.env ?? []) {
        if (SECRET_NAMES.test(e.name) && !e.valueFrom?.secretKeyRef) out.push(`${at}: ${e.name} is not a secretKeyRef`);
      }
    }
  }
  return out;
}

const byKind = (objects: Manifest[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind} ${name}`).toBeDefined();
  return found!;
};
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('infra/k8s (kustomize) renders valid manifests that keep the house rules', () => {
  const overlays = { gpu: render('overlays/gpu'), cpu: render('overlays/cpu') };
  let scrape: ReturnType<typeof parsePrometheus>;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const metricsToken = `k8s-test-${randomUUID()}`;
  beforeAll(async () => {
    app = await buildApp({ env: parseEnv({ ...process.env, PORT: '0', LOG_LEVEL: 'warn', RECONCILER: 'false', METRICS_TOKEN: metricsToken }), db: prisma(), logger: false });
    const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } });
    expect(res.statusCode).toBe(200);
    scrape = parsePrometheus(res.body);
  });
  afterAll(async () => {
    await app?.close();
  });

  it.each(Object.keys(overlays))('%s: every object passes its Kubernetes or KEDA schema, in namespace capillary', (name) => {
    const objects = overlays[name as keyof typeof overlays];
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Job', 'PodDisruptionBudget', 'PodMonitor', 'ScaledJob', 'Service', 'ServiceAccount']);
    expect(schemaErrors(objects)).toEqual([]);
    expect(objects.every((o) => o.metadata.namespace === 'capillary')).toBe(true);
  });

  it.each(Object.keys(overlays))('%s: resources on every container, non-root, pinned tags, secrets only by reference, settings Capillary knows', (name) => {
    const objects = overlays[name as keyof typeof overlays];
    expect(houseRuleBreaches(objects)).toEqual([]);
    // A misspelt setting would be ignored silently by the process: every name must be in EnvSchema.
    const known = new Set([...Object.keys(EnvSchema.properties), 'HOME']);
    const config = byKind(objects, 'ConfigMap', 'capillary-config');
    const names = [...Object.keys(config.data ?? {}), ...objects.flatMap((o) => (podSpec(o) ? containersOf(podSpec(o)) : [])).flatMap((c) => (c.env ?? []).map((e) => e.name))];
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    for (const o of objects.filter(podSpec)) {
      for (const c of containersOf(podSpec(o))) {
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) expect(e.valueFrom.secretKeyRef).toEqual({ name: 'capillary-secrets', key: e.name });
      }
    }
  });

  it('the checks do catch mistakes: a bad field type, a :latest or untagged image, a literal secret, a missing limit', () => {
    const objects = structuredClone(overlays.gpu);
    const api = byKind(objects, 'Deployment', 'capillary-api');
    api.spec.replicas = 'two';
    expect(schemaErrors(objects)).toEqual([expect.stringContaining('replicas must be integer')]);
    const container = api.spec.template.spec.containers[0] as Container;
    container.image = 'ghcr.io/capillary/capillary-app:latest';
    const worker = podSpec(byKind(objects, 'ScaledJob', 'capillary-worker-gpu')).containers[0] as Container;
    worker.image = 'ghcr.io/capillary/capillary-worker-gpu';
    container.env!.push({ name: 'S3_SECRET_ACCESS_KEY', value: 'hunter2' });
    delete worker.resources.limits.memory;
    expect(houseRuleBreaches(objects).sort()).toEqual([
      'Deployment capillary-api container api: S3_SECRET_ACCESS_KEY is not a secretKeyRef',
      'Deployment capillary-api container api: image ghcr.io/capillary/capillary-app:latest is not pinned',
      'ScaledJob capillary-worker-gpu container worker: image ghcr.io/capillary/capillary-worker-gpu is not pinned',
      'ScaledJob capillary-worker-gpu container worker: no limits.memory',
    ]);
  });

  it('the API: 2 replicas, readiness and liveness on /health of its port, a PodDisruptionBudget over its pods', () => {
    const objects = overlays.gpu;
    const api = byKind(objects, 'Deployment', 'capillary-api');
    expect(api.spec.replicas).toBe(2);
    const c = api.spec.template.spec.containers[0] as Container;
    expect(c.ports).toEqual([{ name: 'http', containerPort: 3000 }]);
    expect(envOf(c).PORT).toBe('3000');
    expect(envOf(c).HOST).toBe('0.0.0.0');
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/health', port: 'http' });
    const pdb = byKind(objects, 'PodDisruptionBudget', 'capillary-api');
    expect(pdb.spec.minAvailable).toBeLessThan(api.spec.replicas);
    expect(api.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    const service = byKind(objects, 'Service', 'capillary-api');
    expect(api.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const migrate = byKind(objects, 'Job', 'capillary-migrate');
    expect(migrate.spec.template.spec.containers[0].command).toEqual(['node_modules/.bin/prisma', 'migrate', 'deploy']);
  });

  it('/metrics: the API reads METRICS_TOKEN from the Secret and the PodMonitor scrapes its port with the same key; reads need a key; sessions are signed', () => {
    const objects = overlays.gpu;
    const api = byKind(objects, 'Deployment', 'capillary-api');
    const c = api.spec.template.spec.containers[0] as Container;
    expect(envOf(c).METRICS_TOKEN).toEqual({ secretKeyRef: { name: 'capillary-secrets', key: 'METRICS_TOKEN' } });
    // Production refuses to start without it (apps/api/src/plugins/app/session.ts); one for every replica.
    expect(envOf(c).SESSION_SECRET).toEqual({ secretKeyRef: { name: 'capillary-secrets', key: 'SESSION_SECRET' } });
    // The default, said out loud: `open` is for demos (packages/contracts/src/env.ts).
    expect(byKind(objects, 'ConfigMap', 'capillary-config').data!.AUTH_READS).toBe('required');
    expect(parseEnv({ ...process.env, AUTH_READS: undefined }).AUTH_READS).toBe('required');
    // No annotation invites a scraper that has no token: it would only collect 401s.
    expect(Object.keys(api.spec.template.metadata.annotations ?? {}).filter((k) => k.startsWith('prometheus.io/'))).toEqual([]);

    const monitor = byKind(objects, 'PodMonitor', 'capillary-api');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    // The Operator reads the Secret from the PodMonitor's own namespace: the API's.
    expect(monitor.metadata.namespace).toBe(api.metadata.namespace);
    expect(monitor.spec.namespaceSelector).toBeUndefined();
    expect(api.spec.template.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(Object.keys(monitor.spec).sort()).toEqual(['podMetricsEndpoints', 'selector']);
    expect(monitor.spec.podMetricsEndpoints).toHaveLength(1);
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(c.ports!.map((p) => p.name)).toContain(endpoint.port);
    expect(endpoint.path).toBe('/metrics');
    expect(endpoint.interval).toMatch(/^\d+s$/);
    expect(endpoint.authorization).toEqual({ type: 'Bearer', credentials: c.env!.find((e) => e.name === 'METRICS_TOKEN')!.valueFrom.secretKeyRef });
    // Exactly these fields: the Operator would ignore a misspelt one (an endpoint without its token).
    expect(Object.keys(endpoint).sort()).toEqual(['authorization', 'interval', 'path', 'port']);
  });

  it('GPU workers: a ScaledJob from zero on the queue depth the API exports, one GPU each, time to hand over, and an end when idle', () => {
    const job = byKind(overlays.gpu, 'ScaledJob', 'capillary-worker-gpu');
    expect(job.spec.minReplicaCount).toBe(0);
    expect(job.spec.scalingStrategy.strategy).toBe('accurate');
    const pod = podSpec(job);
    const c = pod.containers[0] as Container;
    expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(envOf(c).TFJS_BACKEND).toBe('tensorflow');
    // The hand-over is bounded at 5 s (apps/worker/src/job-context.ts); the grace period must cover it with room.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(15);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(120);
    expect(pod.restartPolicy).toBe('Never');
    // Without an idle exit a worker never ends, so its Job never completes and KEDA never scales in.
    expect(Number(envOf(c).WORKER_IDLE_EXIT_MS)).toBeGreaterThan(0);
    expect(Number(envOf(c).WORKER_METRICS_PORT)).toBe(c.ports![0].containerPort);

    const [trigger] = job.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    // The series and label values the query selects are what a real /metrics of this API reports.
    const query: string = trigger.metadata.query;
    const metric = /(capillary_\w+)\{/.exec(query)![1];
    const selected = (label: string) => new RegExp(`${label}=~"([^"]+)"`).exec(query)![1].split('|');
    const series = scrape.filter((s) => s.name === metric);
    for (const queue of selected('queue')) {
      for (const state of selected('state')) expect(series.some((s) => s.labels.queue === queue && s.labels.state === state), `${metric}{queue=${queue},state=${state}}`).toBe(true);
    }
    expect(selected('state').sort()).toEqual(['delayed', 'prioritized', 'wait']);
    expect(selected('queue').sort()).toEqual(['prediction', 'training']);
  });

  it('CPU workers: the same ScaledJob on the wasm backend without a GPU', () => {
    const gpu = byKind(overlays.gpu, 'ScaledJob', 'capillary-worker-gpu');
    const cpu = byKind(overlays.cpu, 'ScaledJob', 'capillary-worker-cpu');
    const c = podSpec(cpu).containers[0] as Container;
    expect(envOf(c).TFJS_BACKEND).toBe('wasm');
    expect(JSON.stringify(c.resources)).not.toContain('nvidia.com/gpu');
    expect(podSpec(cpu).tolerations).toBeUndefined();
    expect(c.image).toMatch(/capillary-app:/);
    expect(cpu.spec.triggers).toEqual(gpu.spec.triggers);
    expect(podSpec(cpu).terminationGracePeriodSeconds).toBe(podSpec(gpu).terminationGracePeriodSeconds);
    expect(cpu.spec.jobTargetRef.template.metadata.labels['app.kubernetes.io/name']).toBe('capillary-worker-cpu');
  });
});
