import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './harness.ts';

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');
const raw = readFileSync(COMPOSE_FILE, 'utf8');
const doc = parse(raw);
const services: Record<string, any> = doc.services;

/** The secrets compose must refuse to start without (and never default). */
const REQUIRED = ['POSTGRES_PASSWORD', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'METRICS_TOKEN', 'SESSION_SECRET'];
const SECRET_NAME = /PASSWORD|SECRET|ACCESS_KEY|ROOT_USER|TOKEN/;
const secrets = Object.fromEntries(REQUIRED.map((v) => [v, `${v.toLowerCase()}-value`]));

/**
 * `docker-compose config` with only the given variables: a clean environment and no .env file, so
 * a developer's own .env or shell cannot make a missing secret look present.
 */
const emptyEnvDir = mkdtempSync(path.join(os.tmpdir(), 'capillary-compose-'));
const emptyEnvFile = path.join(emptyEnvDir, 'empty.env');
writeFileSync(emptyEnvFile, '');
afterAll(() => rmSync(emptyEnvDir, { recursive: true, force: true }));

function composeConfig(vars: Record<string, string>, args: string[] = []) {
  return spawnSync('docker-compose', ['--env-file', emptyEnvFile, '-f', COMPOSE_FILE, ...args, 'config'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...vars },
    encoding: 'utf8',
  });
}

/** An image reference names an exact release: a digest, a version with at least major.minor, or a MinIO release stamp. */
function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  if (!tag || tag === 'latest') return false;
  return /^v?\d+\.\d+/.test(tag) || /^RELEASE\.\d{4}-\d{2}-\d{2}T/.test(tag);
}

/** Published ports of a service, as container ports, and the host addresses they bind. */
function published(service: any): { container: number; host: string | null }[] {
  return (service.ports ?? []).map((p: string | { target: number; host_ip?: string }) => {
    if (typeof p === 'object') return { container: Number(p.target), host: p.host_ip ?? null };
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    return { container: Number(parts.at(-1)), host: parts.length === 3 ? parts[0] : null };
  });
}

describe('docker-compose.yml', () => {
  it('is valid for Debian docker-compose (`docker-compose config`) once the secrets are set', () => {
    const r = composeConfig(secrets);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The rendered file carries the values given, not defaults.
    const rendered = parse(r.stdout);
    expect(rendered.services.api.environment.DATABASE_URL).toBe('postgresql://capillary:postgres_password-value@postgres:5432/capillary');
    expect(rendered.services.minio.environment.MINIO_ROOT_PASSWORD).toBe('minio_root_password-value');
    expect(rendered.services.api.environment.S3_SECRET_ACCESS_KEY).toBe('s3_secret_access_key-value');
    expect(rendered.services.api.environment.METRICS_TOKEN).toBe('metrics_token-value');
    expect(rendered.services.api.environment.SESSION_SECRET).toBe('session_secret-value');
  });

  it('makes reads need a key unless AUTH_READS=open is asked for; gives /metrics its token and nothing else', () => {
    const rendered = (vars: Record<string, string>) => parse(composeConfig(vars).stdout).services as Record<string, any>;
    expect(rendered(secrets).api.environment.AUTH_READS).toBe('required');
    expect(rendered({ ...secrets, AUTH_READS: 'open' }).api.environment.AUTH_READS).toBe('open');
    // Only the API serves /metrics behind the token; workers and the migration have no use for it.
    const holders = Object.entries(rendered(secrets)).filter(([, s]) => JSON.stringify(s.environment ?? {}).includes('metrics_token-value')).map(([n]) => n);
    expect(holders).toEqual(['api']);
  });

  it('.env.example names every variable compose refuses to start without', () => {
    const example = readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
    const named = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const required = new Set([...raw.matchAll(/\$\{([A-Z][A-Z0-9_]*):\?/g)].map((m) => m[1]));
    expect([...required].sort()).toEqual([...REQUIRED].sort());
    expect([...required].filter((v) => !named.has(v))).toEqual([]);
  });

  it.each(REQUIRED)('refuses to render without %s, naming it', (name) => {
    const { [name]: _, ...rest } = secrets;
    const r = composeConfig(rest);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`set ${name}`);
  });

  it('has no default or literal secret anywhere', () => {
    // ${VAR:-x} and ${VAR-x} give a value when VAR is unset; a secret must be ${VAR:?message}.
    for (const m of raw.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}/g)) {
      if (SECRET_NAME.test(m[1])) expect(m[2], `\${${m[1]}${m[2]}}`).toMatch(/^:\?/);
    }
    const envs = [doc['x-app-env'], ...Object.values(services).map((s) => s.environment ?? {})];
    for (const env of envs) {
      for (const [k, v] of Object.entries(env as Record<string, string>)) {
        if (SECRET_NAME.test(k)) expect(String(v), k).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
      }
    }
    expect(doc['x-app-env'].DATABASE_URL).toMatch(/^postgresql:\/\/capillary:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/);
  });

  it('gives the app its own MinIO user, never the root keys', () => {
    for (const name of ['api', 'worker', 'worker-cpu', 'migrate']) {
      const env = { ...doc['x-app-env'], ...services[name].environment };
      expect(JSON.stringify(env), name).not.toMatch(/MINIO_ROOT/);
      expect(env.S3_ACCESS_KEY_ID).toMatch(/^\$\{S3_ACCESS_KEY_ID:\?/);
    }
    const withRoot = Object.entries(services).filter(([, s]) => JSON.stringify(s.environment ?? {}).includes('MINIO_ROOT_PASSWORD')).map(([n]) => n);
    expect(withRoot.sort()).toEqual(['minio', 'minio-init']);
  });

  it('pins every image to an exact version (no :latest, no bare name)', () => {
    const images = Object.entries(services).filter(([, s]) => s.image).map(([n, s]) => [n, s.image as string]);
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const [name, image] of images) expect(pinned(image), `${name}: ${image}`).toBe(true);
    // The checker itself tells floating tags from pinned ones.
    for (const bad of ['minio/minio:latest', 'minio/mc', 'redis:7-alpine', 'postgres:15']) expect(pinned(bad), bad).toBe(false);
  });

  it('publishes no MinIO port by default; the console only under the `console` profile, on loopback', () => {
    expect(services.minio.ports).toBeUndefined();
    for (const [name, s] of Object.entries(services)) {
      if (s.profiles?.includes('console')) continue;
      for (const p of published(s)) expect([9000, 9001], `${name} publishes ${p.container}`).not.toContain(p.container);
    }
    const consoles = Object.entries(services).filter(([, s]) => published(s).some((p) => p.container === 9001));
    expect(consoles.map(([n]) => n)).toEqual(['minio-console']);
    const [, consoleService] = consoles[0];
    expect(consoleService.profiles).toEqual(['console']);
    for (const p of published(consoleService)) expect(p.host).toBe('127.0.0.1');
    // What compose renders agrees: only the API's 3000 outside the profile.
    const rendered = parse(composeConfig(secrets).stdout).services as Record<string, any>;
    const exposed = Object.entries(rendered).filter(([, s]) => !s.profiles).flatMap(([n, s]) => published(s).map((p) => `${n}:${p.container}`));
    expect(exposed).toEqual(['api:3000']);
  });

  it('has the production services, a GPU worker reservation and a CPU worker profile', () => {
    for (const s of ['redis', 'postgres', 'minio', 'minio-init', 'migrate', 'api', 'worker', 'worker-cpu']) expect(services).toHaveProperty(s);
    expect(services.redis.command.join(' ')).toContain('--appendonly yes');
    expect(services.worker.deploy.resources.reservations.devices[0].driver).toBe('nvidia');
    expect(services.worker.build.target).toBe('worker-gpu');
    expect(services['worker-cpu'].profiles).toEqual(['cpu']);
    // Scaling with --scale worker=N needs no fixed container name or host port on the worker.
    expect(services.worker.container_name).toBeUndefined();
    expect(services.worker.ports).toBeUndefined();
    expect(services.api.depends_on.migrate.condition).toBe('service_completed_successfully');
    expect(services.api.depends_on['minio-init'].condition).toBe('service_completed_successfully');
  });
});

describe('infra/minio-init.sh', () => {
  // A stand-in `mc` on PATH records each call; `user info` answers from what was attached so far.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'capillary-mc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'calls.log');
  const policyCopy = path.join(dir, 'policy.json');
  writeFileSync(
    path.join(dir, 'mc'),
    `#!/bin/sh
echo "$*" >> ${JSON.stringify(log)}
case "$1 $2 $3" in
  "admin policy create") cp "$6" ${JSON.stringify(policyCopy)} ;;
  "admin user info") grep -q "policy attach" ${JSON.stringify(log)} && echo "PolicyName: capillary-app" ;;
esac
exit 0
`,
  );
  chmodSync(path.join(dir, 'mc'), 0o755);
  const run = (env: Record<string, string>) =>
    spawnSync('sh', [path.join(REPO_ROOT, 'infra/minio-init.sh')], { env: { PATH: `${dir}:/usr/bin:/bin`, TMPDIR: dir, ...env }, encoding: 'utf8' });
  const env = { MINIO_ROOT_USER: 'root', MINIO_ROOT_PASSWORD: 'rootpw', S3_BUCKET: 'capillary-prod', S3_ACCESS_KEY_ID: 'app', S3_SECRET_ACCESS_KEY: 'apppw' };

  it('creates the bucket, a policy limited to it and the app user with that policy; a rerun attaches nothing twice', () => {
    const first = run(env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const calls = () => readFileSync(log, 'utf8').trim().split('\n');
    expect(calls()).toEqual([
      'alias set local http://minio:9000 root rootpw',
      'mb --ignore-existing local/capillary-prod',
      expect.stringMatching(/^admin policy create local capillary-app /),
      'admin user add local app apppw',
      'admin user info local app',
      'admin policy attach local capillary-app --user app',
    ]);
    const policy = JSON.parse(readFileSync(policyCopy, 'utf8')) as { Statement: { Effect: string; Action: string[]; Resource: string[] }[] };
    const resources = policy.Statement.flatMap((s) => s.Resource);
    expect(resources.sort()).toEqual(['arn:aws:s3:::capillary-prod', 'arn:aws:s3:::capillary-prod/*']);
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions.every((a) => a.startsWith('s3:') && !a.includes('*'))).toBe(true);
    expect(actions).not.toContain('s3:CreateBucket');
    expect(actions).not.toContain('s3:DeleteBucket');

    const n = calls().length;
    expect(run(env).status).toBe(0);
    expect(calls().slice(n).filter((c) => c.startsWith('admin policy attach'))).toEqual([]);
  });

  it('refuses to hand the app the root user', () => {
    const r = run({ ...env, S3_ACCESS_KEY_ID: 'root' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/must differ from MINIO_ROOT_USER/);
  });
});

describe('infra/Dockerfile', () => {
  const dockerfile = readFileSync(path.join(REPO_ROOT, 'infra/Dockerfile'), 'utf8');
  const args = Object.fromEntries([...dockerfile.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));

  it('builds from pinned base images', () => {
    expect(stages.length).toBe(2);
    for (const stage of stages) {
      const image = /^FROM (\S+)/.exec(stage)![1].replace(/\$\{(\w+)\}/g, (_, v) => args[v] ?? '');
      expect(pinned(image), image).toBe(true);
    }
  });

  it('runs every stage as a non-root user', () => {
    for (const stage of stages) {
      const users = [...stage.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
      expect(users.length, stage.split('\n')[0]).toBeGreaterThan(0);
      expect(['root', '0', '0:0']).not.toContain(users.at(-1));
    }
  });

  it('installs exactly the pinned @tensorflow/tfjs-node-gpu, the version of tfjs-core in the lockfile', () => {
    expect(args.TFJS_NODE_GPU_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(stages[1]).toContain('"@tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION}"');
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/@tensorflow/tfjs-core'].version).toBe(args.TFJS_NODE_GPU_VERSION);
  });

  it('keeps .env out of the build context', () => {
    const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toContain('.env');
  });
});
