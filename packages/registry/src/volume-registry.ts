import { createHash } from 'node:crypto';
import type { Prisma, PrismaClient, SplitRole, Volume } from '@capillary/db';
import { deletePrefix, volumePrefixOfImage } from '@capillary/storage';

/** The fields of a volume row that its writer supplies (the database fills id and dataset). */
export interface VolumeFields {
  name: string;
  role: SplitRole;
  imageKey: string;
  labelKey: string | null;
  maskKey: string | null;
  dtype: string;
  depth: number;
  height: number;
  width: number;
  voxelSizeUm: number[];
  stats: Prisma.InputJsonValue;
  contentHash: string;
  labelDensity: number;
}

/** The dataset a volume is registered in: created when missing, in `projectId` (default: `default`), by `createdById`. */
export interface DatasetRef {
  name: string;
  projectId?: string;
  createdById?: string | null;
  description?: string;
}

/** The content hash of a volume registered from arrays already in S3: its array keys. */
export const registeredContentHash = (imageKey: string, labelKey: string | null, maskKey: string | null) =>
  createHash('sha256').update(JSON.stringify({ registered: [imageKey, labelKey, maskKey] })).digest('hex');

/**
 * The one writer of dataset and volume rows, beside the experiment registry: the importers, the
 * API's registration of arrays already in S3 and the pseudo-label rounds all register through it.
 */
export class VolumeRegistry {
  constructor(private readonly db: PrismaClient | Prisma.TransactionClient) {}

  /** Volumes of `dataset` named `name` or holding `contentHash` (an import's "already there?" question). */
  namedOrHolding(dataset: string, name: string, contentHash: string): Promise<Volume[]> {
    return this.db.volume.findMany({ where: { dataset: { name: dataset }, OR: [{ contentHash }, { name }] } });
  }

  /** The volume of `dataset` named `name`, if any. */
  find(dataset: string, name: string): Promise<Volume | null> {
    return this.db.volume.findFirst({ where: { name, dataset: { name: dataset } } });
  }

  /** Registers a volume, and its dataset when missing, in one transaction: nothing is visible before it commits. */
  async register(dataset: DatasetRef, volume: VolumeFields): Promise<Volume> {
    return this.transaction((tx) => new VolumeRegistry(tx).registerIn(dataset, volume));
  }

  /**
   * Registers the next round's dataset of a pseudo-label prediction, inside the caller's transaction
   * (the one that records the prediction's success): every volume of the source dataset again, with
   * the same image (and mask) arrays, the dense pseudo-label array where one was made (labelDensity 1,
   * its foreground fraction recounted) and the original labels otherwise. Null when the name is taken.
   */
  async registerPseudoLabelRound(o: { dataset: Required<Omit<DatasetRef, 'createdById'>> & { createdById: string | null }; sourceDataset: string; labels: Map<string, { labelKey: string; foregroundVoxels: number }> }) {
    if (await this.db.dataset.findUnique({ where: { name: o.dataset.name } })) return null;
    const source = await this.db.dataset.findUniqueOrThrow({ where: { name: o.sourceDataset }, include: { volumes: true } });
    const ds = await this.db.dataset.create({ data: o.dataset });
    for (const v of source.volumes) {
      const made = o.labels.get(v.id);
      const voxels = v.depth * v.height * v.width;
      const stats = made ? { ...(v.stats as Record<string, unknown>), foregroundFraction: made.foregroundVoxels / voxels } : v.stats;
      const labelKey = made ? made.labelKey : v.labelKey;
      await this.db.volume.create({
        data: {
          datasetId: ds.id, name: v.name, role: v.role, imageKey: v.imageKey, labelKey, maskKey: v.maskKey,
          dtype: v.dtype, depth: v.depth, height: v.height, width: v.width, voxelSizeUm: v.voxelSizeUm,
          labelDensity: made ? 1 : v.labelDensity, stats: stats as Prisma.InputJsonValue,
          contentHash: registeredContentHash(v.imageKey, labelKey, v.maskKey),
        },
      });
    }
    return ds;
  }

  /** Whether any registered volume still reads the image array at `imageKey` (pseudo-label rounds share their source's). */
  async arraysInUse(imageKey: string): Promise<boolean> {
    return (await this.db.volume.count({ where: { imageKey } })) > 0;
  }

  /**
   * Removes a registered volume: its row first (so no reader finds it), then its arrays in S3 unless
   * another volume still reads them.
   */
  async remove(volume: Pick<Volume, 'id' | 'imageKey'>): Promise<void> {
    await this.db.volume.delete({ where: { id: volume.id } });
    if (await this.arraysInUse(volume.imageKey)) return;
    await deletePrefix(`${volumePrefixOfImage(volume.imageKey)}/`);
  }

  /** Removes a dataset: each of its volumes as {@link remove} does, then its row. */
  async removeDataset(name: string): Promise<void> {
    for (const v of await this.db.volume.findMany({ where: { dataset: { name } } })) await this.remove(v);
    await this.db.dataset.deleteMany({ where: { name } });
  }

  private async registerIn(dataset: DatasetRef, volume: VolumeFields): Promise<Volume> {
    const { name, projectId, createdById, description } = dataset;
    const ds = await this.db.dataset.upsert({
      where: { name },
      update: {},
      create: { name, ...(projectId ? { projectId } : {}), ...(createdById ? { createdById } : {}), ...(description ? { description } : {}) },
    });
    return this.db.volume.create({ data: { datasetId: ds.id, ...volume } });
  }

  private transaction<T>(fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    // Inside a caller's transaction already: the client has no $transaction of its own.
    return '$transaction' in this.db ? (this.db as PrismaClient).$transaction(fn) : fn(this.db);
  }
}
