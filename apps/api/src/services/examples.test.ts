import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExperimentRequest, SweepSpec, Validator, parseEnv } from '@capillary/contracts';
import { expandSweep } from '@capillary/search';

const dir = path.resolve(import.meta.dirname, '../../../../examples');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });
const sweeps = new Validator('sweep', SweepSpec);
const experiments = new Validator('experiment', ExperimentRequest);

describe('examples/', () => {
  it('holds the committed specs the docs point to', () => {
    expect(files).toEqual(expect.arrayContaining(['drive.json', 'drive-width-sweep.json', 'seed-table.json', 'vesselnn.json', 'vesselnn-threshold-sweep.json']));
  });

  for (const file of files) {
    it(`${file} is what POST /experiments or POST /sweeps accepts`, () => {
      const body = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
      if (body.base) {
        const { trials, issues } = expandSweep(sweeps.parse(body), limits);
        expect(issues).toEqual([]);
        expect(trials.length).toBeGreaterThan(1);
      } else {
        expect(experiments.parse(body).dataset).toBe(body.dataset);
      }
    });
  }
});
