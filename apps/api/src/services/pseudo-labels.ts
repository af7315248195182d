import type { PrismaClient } from '@capillary/db';
import { badField } from './errors.ts';

/**
 * A pseudo-label prediction needs a free dataset name for its result and a dataset with sparse
 * volumes to densify; a 400 naming the field otherwise (the CLI shares the check).
 */
export async function checkPseudoLabelTarget(db: PrismaClient, dataset: string, target: string, field: string): Promise<void> {
  if (target === dataset || (await db.dataset.findUnique({ where: { name: target } }))) {
    throw badField(field, `a dataset named "${target}" already exists; the pseudo-labels are registered as a new dataset`);
  }
  const sparse = await db.volume.count({ where: { dataset: { name: dataset }, labelKey: { not: null }, labelDensity: { lt: 1 } } });
  if (!sparse) throw badField(field, `dataset "${dataset}" has no volume with sparse labels (labelDensity < 1) to pseudo-label`);
}
