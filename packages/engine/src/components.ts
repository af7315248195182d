/**
 * Removal of small 3D connected components (26-connected) from a mask that arrives one z slice at
 * a time. Pass 1 labels each slice against the previous one with a union-find and spills the mask
 * (bit-packed) and the labels of foreground voxels to a temporary file; once the last slice is in,
 * component sizes are known and pass 2 re-emits every slice without the small components.
 * Memory: two slices of labels plus the union-find (one entry per provisional label).
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

class UnionFind {
  parent = new Int32Array(1024);
  size = new Float64Array(1024);
  count = 1; // 0 is background
  make(): number {
    if (this.count === this.parent.length) {
      const p = new Int32Array(this.parent.length * 2);
      p.set(this.parent);
      const s = new Float64Array(this.size.length * 2);
      s.set(this.size);
      this.parent = p;
      this.size = s;
    }
    const id = this.count++;
    this.parent[id] = id;
    this.size[id] = 0;
    return id;
  }
  find(a: number): number {
    let r = a;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[a] !== r) {
      const n = this.parent[a];
      this.parent[a] = r;
      a = n;
    }
    return r;
  }
  union(a: number, b: number): number {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return ra;
    if (this.size[ra] < this.size[rb]) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] += this.size[rb];
    return ra;
  }
}

export interface ComponentFilter {
  push: (z: number, mask: Uint8Array) => void;
  /** Emits every slice, filtered; returns the foreground voxels kept. */
  finish: () => Promise<number>;
  /** Removes the spill file (after an abort; finish does it itself). */
  dispose: () => void;
}

export function removeSmallComponents(
  height: number,
  width: number,
  minVoxels: number,
  emit: (z: number, mask: Uint8Array) => Promise<void> | void,
): ComponentFilter {
  const n = height * width;
  const uf = new UnionFind();
  let prev = new Int32Array(n);
  let cur = new Int32Array(n);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'capillary-cc-'));
  const fd = openSync(path.join(dir, 'labels.bin'), 'w+');
  const records: Array<{ offset: number; fg: number }> = [];
  let offset = 0;
  let expected = 0;

  const push = (z: number, mask: Uint8Array) => {
    if (z !== expected++) throw new Error(`slices must arrive in order: got ${z}, expected ${expected - 1}`);
    cur.fill(0);
    const labels: number[] = [];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (!mask[i]) continue;
        let id = 0;
        const link = (j: number, src: Int32Array) => {
          const l = src[j];
          if (!l) return;
          id = id ? uf.union(id, l) : uf.find(l);
        };
        if (x > 0) link(i - 1, cur);
        if (y > 0) {
          for (let dx = -1; dx <= 1; dx++) if (x + dx >= 0 && x + dx < width) link(i - width + dx, cur);
        }
        for (let dy = -1; dy <= 1; dy++) {
          if (y + dy < 0 || y + dy >= height) continue;
          for (let dx = -1; dx <= 1; dx++) if (x + dx >= 0 && x + dx < width) link(i + dy * width + dx, prev);
        }
        if (!id) id = uf.make();
        uf.size[uf.find(id)] += 1;
        cur[i] = id;
        labels.push(id);
      }
    }
    const bits = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (mask[i]) bits[i >> 3] |= 1 << (i & 7);
    writeSync(fd, bits, 0, bits.length, offset);
    const lab = Int32Array.from(labels);
    writeSync(fd, new Uint8Array(lab.buffer), 0, lab.byteLength, offset + bits.length);
    records.push({ offset, fg: labels.length });
    offset += bits.length + lab.byteLength;
    [prev, cur] = [cur, prev];
  };

  let open = true;
  const dispose = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  };
  const finish = async () => {
    let kept = 0;
    try {
      const bits = new Uint8Array(Math.ceil(n / 8));
      for (let z = 0; z < records.length; z++) {
        const r = records[z];
        readSync(fd, bits, 0, bits.length, r.offset);
        const lab = new Int32Array(r.fg);
        readSync(fd, new Uint8Array(lab.buffer), 0, lab.byteLength, r.offset + bits.length);
        const out = new Uint8Array(n);
        let k = 0;
        for (let i = 0; i < n; i++) {
          if (!(bits[i >> 3] & (1 << (i & 7)))) continue;
          if (uf.size[uf.find(lab[k++])] >= minVoxels) {
            out[i] = 1;
            kept++;
          }
        }
        await emit(z, out);
      }
    } finally {
      dispose();
    }
    return kept;
  };
  return { push, finish, dispose };
}
