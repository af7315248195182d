import { describe, expect, it } from 'vitest';
import { stackProfile, stackStatus, stackUp } from './stack.ts';

describe('local stack', () => {
  it('`up` on a running stack is safe and keeps the same processes', async () => {
    const p = stackProfile('test');
    const before = await stackStatus(p);
    expect(before).toEqual({ redis: 'running', postgres: 'running', s3: 'running' });
    const lines: string[] = [];
    await stackUp(p, (l) => lines.push(l));
    expect(lines.filter((l) => l.includes('already running'))).toHaveLength(3);
    expect(await stackStatus(p)).toEqual(before);
  });

  it('refuses a port another process holds, naming the variable to change', async () => {
    const p = { ...stackProfile('collide'), redisPort: stackProfile('test').redisPort };
    await expect(stackUp(p)).rejects.toThrow(/CAPILLARY_REDIS_PORT/);
  });
});
