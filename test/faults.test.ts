// The fault drills of "Nothing lost", each once, against the test stack's real servers: a
// Redis restart (data kept and wiped), Postgres and S3 outages, a frozen worker losing its lock,
// SIGTERM mid-epoch and mid-prediction, SIGTERM while Redis is down, and cancels the pub/sub path misses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackProfile } from '@capillary/devstack';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { DRILLS } from './drills/drills.ts';

const DATASET = 'drill-kidney';
const ctx = { profile: stackProfile('test'), dataset: DATASET, log: (l: string) => console.log(`[drill] ${l}`) };

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 11, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
});
afterAll(async () => {
  // A drill that failed half-way must not leave a server down for the files after this one.
  const { stackUp } = await import('@capillary/devstack');
  await stackUp(ctx.profile);
});

describe('nothing is lost when a server or a worker fails', () => {
  for (const [name, drill] of Object.entries(DRILLS)) {
    it(name, async () => {
      const t = await drill(ctx);
      console.log(`[drill] ${name}: ${JSON.stringify(t)}`);
      expect(t).toEqual({ experiments: t.experiments, lost: 0, duplicatedEpochs: 0, stuck: 0, workerCrashes: 0, violations: [] });
      expect(t.experiments).toBeGreaterThan(0);
    }, 600_000);
  }
});
