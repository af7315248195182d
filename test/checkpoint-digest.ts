import { createHash } from 'node:crypto';
import { getObject } from '@capillary/storage';

/** sha256 over every tensor of a stored checkpoint (weights, batch-norm statistics, Adam moments), in order. */
export async function tensorDigest(key: string): Promise<string> {
  const { decodeCheckpoint } = await import('@capillary/engine');
  const ck = decodeCheckpoint((await getObject(key))!);
  const hash = createHash('sha256');
  for (const t of ck.header.tensors) {
    const { data } = ck.tensor(t.name)!;
    hash.update(t.name).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}
