import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { cropToMemory, multiPageTiff } from '@capillary/volumes/importers';
import { MemoryVolume } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { train, type EpochReport } from './train.ts';

const dataDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/vesselnn');
const exists = existsSync(dataDir);
if (!exists) console.warn(`engine real-data test skipped: ${dataDir} is absent (the shared vesselNN data)`);

/** A y/x crop of a vesselNN two-photon volume with its labels, held in memory (small). */
async function crop(name: string, size: number): Promise<MemoryVolume> {
  return cropToMemory(await multiPageTiff(path.join(dataDir, 'images', `${name}.tif`), path.join(dataDir, 'labels', `${name}.tif`), { name }), size);
}

describe.runIf(exists)('training on real two-photon vessel data (vesselNN)', () => {
  it('learns vessels: validation Dice well above chance after a few short epochs', async () => {
    await selectBackend('wasm', 2);
    const trainVol = await crop('burgess2014_lowerRes_hiSNR', 192);
    const valVol = await crop('santos2015_lowContrastVessels', 160);
    const spec = Value.Default(ExperimentSpec, {
      dataset: 'vesselnn',
      model: 'unet',
      epochs: 3,
      stepsPerEpoch: 15,
      lr: 0.005,
      tileSize: 64,
      batchSize: 4,
      baseFilters: 8,
      depth: 3,
      seed: 1,
    }) as ExperimentSpec;
    const reports: EpochReport[] = [];
    await train({ spec, train: [trainVol], validation: [valVol], onEpoch: async (r) => void reports.push(r) });
    const fg = valVol.stats.foregroundFraction!;
    console.log(`vesselNN: foreground ${(fg * 100).toFixed(1)} %, epochs ${reports.map((r) => `dice ${r.dice?.toFixed(3)} surface ${r.surfaceDice?.toFixed(3)}`).join('; ')}`);
    // Chance Dice (a random mask with the right foreground share) equals the foreground share.
    expect(Math.max(...reports.map((r) => r.dice ?? 0))).toBeGreaterThan(Math.max(0.45, 3 * fg));
  });
});
