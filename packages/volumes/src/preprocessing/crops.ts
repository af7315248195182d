/**
 * Validation crops: when a run's validation volumes exceed its voxel budget, boxes of them are
 * chosen once per run from its seed, mostly around vessels (the volumes' foreground index) and
 * partly uniformly, until the budget is spent. The same boxes validate every epoch, so epochs
 * compare; a resumed run draws the same boxes again.
 */
import { boxSize } from '../box.ts';
import { foregroundIndexOf } from './foreground.ts';
import { Rng } from '../rng.ts';
import type { Box, ForegroundIndex, VolumeReader } from '../types.ts';

/** One validation crop: a box of volume `volume`, whose first and last `halo` planes give context only. */
export interface ValidationCrop {
  volume: number;
  /** The box predicted, halo planes included. */
  box: Box;
  /** Planes predicted at the box's start (z) only as neighbours of the scored ones. */
  haloBefore: number;
  /** Same at its end. */
  haloAfter: number;
}

export interface CropOptions {
  /** Most voxels all crops together may hold (halo planes included). */
  maxVoxels: number;
  /** The network's tile: a crop is one tile in y and x, predicted exactly as a training tile is seen. */
  tileSize: number;
  /** Input slices: (slices - 1) / 2 halo planes above and below each crop, where the volume has them. */
  slices: number;
  seed: number;
  /** Share of crops placed uniformly rather than on a vessel (default 0.25), so background errors count too. */
  uniformShare?: number;
}

/** Crops wanted at the least: below this the crops get shallower (down to {@link MIN_CROP_DEPTH}) rather than fewer. */
export const MIN_CROPS = 8;
/** Fewest scored planes in a crop: the surface Dice needs some depth to see 3D surfaces. */
export const MIN_CROP_DEPTH = 8;
/** Most crops per run: each is one inference pass with its own overhead; a larger budget stays partly unused. */
export const MAX_CROPS = 512;
/** A drawn crop sharing more than this share of its voxels with an earlier one is drawn again (a few times). */
const MAX_OVERLAP = 0.5;
const REDRAWS = 16;
/** Stream of the crop draws, apart from every other consumer of the run's seed. */
const CROP_STREAM = 0xc409;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Scored planes per crop: the tile's edge (a cube) when the budget holds {@link MIN_CROPS} of them,
 * else as deep as {@link MIN_CROPS} crops allow, but at least {@link MIN_CROP_DEPTH}.
 */
export function cropDepth(o: Pick<CropOptions, 'maxVoxels' | 'tileSize' | 'slices'>): number {
  const halo = o.slices - 1;
  const affordable = Math.floor(o.maxVoxels / (MIN_CROPS * o.tileSize * o.tileSize)) - halo;
  return clamp(affordable, MIN_CROP_DEPTH, o.tileSize);
}

function overlap(a: Box, b: Box): number {
  const d = (lo0: number, hi0: number, lo1: number, hi1: number) => Math.max(0, Math.min(hi0, hi1) - Math.max(lo0, lo1));
  return d(a.z0, a.z1, b.z0, b.z1) * d(a.y0, a.y1, b.y0, b.y1) * d(a.x0, a.x1, b.x0, b.x1);
}

/** An interval of `len` inside [0, size) centred on `c` as far as the edges allow. */
function around(c: number, len: number, size: number): [number, number] {
  const lo = clamp(c - Math.floor(len / 2), 0, size - len);
  return [lo, lo + len];
}

/**
 * Chooses the crops of `volumes` (unlabelled ones are never chosen) within the budget, or null when
 * the labelled volumes fit in it whole: they are then validated whole, as without a budget.
 * Deterministic for a seed. At least one crop, even when one crop alone exceeds the budget.
 */
export async function chooseValidationCrops(volumes: readonly VolumeReader[], o: CropOptions): Promise<ValidationCrop[] | null> {
  const labelled = volumes.map((v, i) => ({ v, i })).filter(({ v }) => v.hasLabels);
  const total = labelled.reduce((s, { v }) => s + v.shape[0] * v.shape[1] * v.shape[2], 0);
  if (total <= o.maxVoxels || !labelled.length) return null;
  const indexes = await Promise.all(labelled.map(({ v }) => foregroundIndexOf(v)));
  return drawCrops(labelled.map(({ v, i }, j) => ({ volume: i, shape: v.shape, index: indexes[j] })), o);
}

/** The draws themselves, on volume shapes and foreground indexes (pure, for tests and benchmarks). */
export function drawCrops(
  volumes: ReadonlyArray<{ volume: number; shape: readonly [number, number, number]; index: ForegroundIndex }>,
  o: CropOptions,
): ValidationCrop[] {
  const rng = Rng.of(o.seed, CROP_STREAM);
  const uniformShare = o.uniformShare ?? 0.25;
  const depth = cropDepth(o);
  const h = (o.slices - 1) / 2;
  // Larger volumes get proportionally more crops: a crop stands for the same share of any volume.
  const cum: number[] = [];
  for (const { shape } of volumes) cum.push((cum.at(-1) ?? 0) + shape[0] * shape[1] * shape[2]);
  const crops: ValidationCrop[] = [];
  let spent = 0;
  while (crops.length < MAX_CROPS) {
    let crop: ValidationCrop | undefined;
    for (let tries = 0; tries <= REDRAWS && !crop; tries++) {
      const drawn = drawOne();
      const scored = scoredBox(drawn);
      const shared = crops.filter((c) => c.volume === drawn.volume).reduce((s, c) => s + overlap(scoredBox(c), scored), 0);
      if (shared <= MAX_OVERLAP * boxSize(scored)) crop = drawn;
    }
    // Every draw lands on crops already taken: the volumes are covered as far as crops go.
    if (!crop) break;
    const size = boxSize(crop.box);
    if (crops.length && spent + size > o.maxVoxels) break;
    crops.push(crop);
    spent += size;
  }
  return crops;

  /** One crop: a volume by size, then a vessel voxel of it (or, for the uniform share, any voxel) as its centre. */
  function drawOne(): ValidationCrop {
    // A fixed number of draws per crop whichever branch runs, so one choice never shifts the next crop's.
    const pickVolume = rng.float() * cum[cum.length - 1];
    const onVessel = rng.float() >= uniformShare;
    const cellPick = rng.float();
    const u = [rng.float(), rng.float(), rng.float()];
    const j = volumes[Math.max(0, cum.findIndex((c) => pickVolume < c))];
    const [Z, Y, X] = j.shape;
    const size = [Math.min(depth, Z), Math.min(o.tileSize, Y), Math.min(o.tileSize, X)];
    let centre = [Math.floor(u[0] * Z), Math.floor(u[1] * Y), Math.floor(u[2] * X)];
    if (onVessel && j.index.counts.length) {
      const c = Math.floor(cellPick * j.index.counts.length);
      // The cell's vessel voxel, shifted up to a quarter crop (the same draws), so a cell gives many
      // crops that all hold its vessel, as the sampler jitters its tiles.
      centre = [0, 1, 2].map((a) => j.index.voxels[c * 3 + a] + Math.round((2 * u[a] - 1) * Math.floor(size[a] / 4)));
    }
    const [z0, z1] = around(centre[0], size[0], Z);
    const [y0, y1] = around(centre[1], size[1], Y);
    const [x0, x1] = around(centre[2], size[2], X);
    // Halo planes are the volume's own neighbours, where it has them; at its ends the edge repeats, as in whole-volume inference.
    const haloBefore = Math.min(h, z0);
    const haloAfter = Math.min(h, Z - z1);
    return { volume: j.volume, box: { z0: z0 - haloBefore, z1: z1 + haloAfter, y0, y1, x0, x1 }, haloBefore, haloAfter };
  }
}

/** The scored part of a crop: its box without the halo planes. */
export function scoredBox(c: ValidationCrop): Box {
  return { ...c.box, z0: c.box.z0 + c.haloBefore, z1: c.box.z1 - c.haloAfter };
}
