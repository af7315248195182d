import type { Command } from 'commander';
import { runImports } from './import.ts';

/** Parses `64x256x256` into [z, y, x]. */
export function parseShape(s: string): [number, number, number] {
  const parts = s.split('x').map(Number);
  if (parts.length !== 3 || !parts.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--shape must look like 64x256x256 (z x y x x), got "${s}"`);
  return parts as [number, number, number];
}

const ROLES = ['train', 'validation', 'public_test', 'private_test'] as const;
type Role = (typeof ROLES)[number];

/** Parses `train=2,validation=1,public_test=1,private_test=1` into one role per volume, in that order. */
export function parseSplit(s: string): Role[] {
  const roles: Role[] = [];
  for (const part of s.split(',')) {
    const m = /^\s*([a-z_]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m || !(ROLES as readonly string[]).includes(m[1])) throw new Error(`--split must look like train=2,validation=1,public_test=1,private_test=1 (roles: ${ROLES.join(', ')}), got "${s}"`);
    roles.push(...Array<Role>(Number(m[2])).fill(m[1] as Role));
  }
  if (!roles.length) throw new Error(`--split names no volume: "${s}"`);
  return roles;
}

/** `capillary synth`: generate synthetic kidneys (streamed, any size) straight into a dataset. */
export function register(program: Command) {
  program
    .command('synth')
    .description('generate synthetic HiP-CT-like kidneys with vessel trees and import them into a dataset')
    .requiredOption('--dataset <name>', 'dataset to add the volumes to (created when missing)')
    .option('--shape <zxyxx>', 'volume shape z x y x x', '64x256x256')
    .option('--seed <n>', 'seed of the first volume (the next ones use seed+1, ...)', '0')
    .option('--count <n>', 'number of volumes', '1')
    .option('--density <f>', 'share of tissue voxels inside vessels', '0.01')
    .option('--labelled-fraction <f>', 'share of vessel branches labelled (sparse labels like kidney_2 below 1)', '1')
    .option('--role <role>', 'split role', 'train')
    .option('--split <roles>', 'a whole dataset at once, volumes per split role, e.g. train=4,validation=1,public_test=1,private_test=1 (replaces --count and --role)')
    .option('--name-prefix <prefix>', 'volume names: <prefix>_00, <prefix>_01, ... (default: from seed and shape)')
    .action(async (o: { dataset: string; shape: string; seed: string; count: string; density: string; labelledFraction: string; role: string; split?: string; namePrefix?: string }) => {
      const { syntheticSource } = await import('@capillary/volumes/importers');
      const shape = parseShape(o.shape);
      const roles = o.split ? parseSplit(o.split) : null;
      const count = roles ? roles.length : Number(o.count);
      const seed = Number(o.seed);
      const labelledFraction = Number(o.labelledFraction);
      const vesselDensity = Number(o.density);
      if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got "${o.count}"`);
      if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got "${o.seed}"`);
      if (!(labelledFraction > 0 && labelledFraction <= 1)) throw new Error(`--labelled-fraction must be in (0, 1], got "${o.labelledFraction}"`);
      if (!(vesselDensity > 0 && vesselDensity < 0.5)) throw new Error(`--density must be in (0, 0.5), got "${o.density}"`);
      const sources = Array.from({ length: count }, (_, i) => ({
        source: syntheticSource({ shape, seed: seed + i, labelledFraction, vesselDensity, name: o.namePrefix ? `${o.namePrefix}_${String(i).padStart(2, '0')}` : undefined }),
        role: roles?.[i],
      }));
      await runImports(sources, { dataset: o.dataset, role: o.role, labelDensity: String(labelledFraction) });
    });
}
