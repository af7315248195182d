import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './harness.ts';

describe('docker-compose.yml', () => {
  it('is valid for Debian docker-compose (`docker-compose config -q`)', () => {
    // Throws with compose's message when the file is invalid.
    execFileSync('docker-compose', ['-f', path.join(REPO_ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: REPO_ROOT, stdio: 'pipe' });
  });

  it('has the production services, a GPU worker reservation and a CPU worker profile', () => {
    const doc = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'));
    const services = doc.services;
    for (const s of ['redis', 'postgres', 'minio', 'minio-init', 'migrate', 'api', 'worker', 'worker-cpu']) expect(services).toHaveProperty(s);
    expect(services.redis.command.join(' ')).toContain('--appendonly yes');
    expect(services.worker.deploy.resources.reservations.devices[0].driver).toBe('nvidia');
    expect(services.worker.build.target).toBe('worker-gpu');
    expect(services['worker-cpu'].profiles).toEqual(['cpu']);
    // Scaling with --scale worker=N needs no fixed container name or host port on the worker.
    expect(services.worker.container_name).toBeUndefined();
    expect(services.worker.ports).toBeUndefined();
    expect(services.api.depends_on.migrate.condition).toBe('service_completed_successfully');
  });
});
