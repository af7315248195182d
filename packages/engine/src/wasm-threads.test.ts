import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

describe('threaded wasm worker script', () => {
  // A temp folder of this test's own stands in for the shared one, so the planted file cannot reach
  // another process on this machine.
  const sharedTmp = mkdtempSync(path.join(os.tmpdir(), 'capillary-shared-tmp-'));
  const savedTmp = process.env.TMPDIR;
  afterAll(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(sharedTmp, { recursive: true, force: true });
  });

  it('ignores a script planted at the old predictable temp path, sweeps dead processes\' folders and still runs threaded', async () => {
    process.env.TMPDIR = sharedTmp;
    const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    const { version } = require(path.join(packageDir, 'package.json')) as { version: string };
    const { wasmWorkerContents } = require(path.join(packageDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
    const uid = process.getuid?.() ?? 0;
    const planted = path.join(sharedTmp, `capillary-tfwasm-${version}-${uid}.worker.js`);
    const marker = path.join(sharedTmp, 'planted-script-ran');
    // A working worker with a payload: the engine would run fine on it, so only the marker tells.
    writeFileSync(planted, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n${wasmWorkerContents.replace(/\n/g, '\\n')}`);

    // Folders of earlier processes: the dead one's is swept, a live one's stays.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = path.join(sharedTmp, `capillary-tfwasm-${deadPid}-Ab12Cd`);
    const live = path.join(sharedTmp, `capillary-tfwasm-${process.ppid}-Ef34Gh`);
    for (const d of [stale, live]) mkdirSync(d, { mode: 0o700 });

    const { selectBackend, backendThreads } = await import('./backend.ts');
    const { wasmWorkerScriptFile } = await import('./wasm-threads.ts');
    expect(await selectBackend('wasm', 2)).toBe('wasm');
    expect(backendThreads()).toBe(2);
    const y = tf.conv2d(tf.ones([1, 8, 8, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same');
    expect((await y.data())[9 * 4]).toBe(18);

    expect(existsSync(marker)).toBe(false);
    const used = wasmWorkerScriptFile()!;
    expect(used).not.toBe(planted);
    // Its folder is fresh, private to this user and holds the package's script unchanged.
    expect(path.dirname(used)).not.toBe(sharedTmp);
    expect(statSync(path.dirname(used)).mode & 0o777).toBe(0o700);
    expect(statSync(used).mode & 0o077).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readFileSync(used, 'utf8')).toBe(wasmWorkerContents.replace(/\n/g, '\\n'));
  });
});
