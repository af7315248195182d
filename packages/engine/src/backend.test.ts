import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, selectBackend } from './backend.ts';
import { onednnUnavailableReason } from './onednn/addon.ts';

describe('selectBackend', () => {
  it('starts multi-threaded wasm and reports it', async () => {
    expect(await selectBackend('wasm', 2)).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(backendThreads()).toBe(2);
    // A conv runs on the threaded build.
    const y = tf.conv2d(tf.ones([1, 8, 8, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same');
    expect((await y.data())[9 * 4]).toBe(18);
  });

  it('switches to cpu on request', async () => {
    expect(await selectBackend('cpu')).toBe('cpu');
    expect(backendThreads()).toBe(1);
  });

  it('auto prefers onednn (where the addon is built) to wasm when TensorFlow native is not installed', async () => {
    const expected = tf.findBackendFactory('tensorflow') ? 'tensorflow' : onednnUnavailableReason() ? 'wasm' : 'onednn';
    expect(await selectBackend('auto', 2)).toBe(expected);
    if (expected === 'onednn') {
      expect(backendThreads()).toBe(2);
      // The same conv as on wasm, now through oneDNN.
      const y = tf.conv2d(tf.ones([1, 8, 8, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same');
      expect((await y.data())[9 * 4]).toBe(18);
    }
  });

  it('TFJS_BACKEND=onednn either starts it or says why it is unavailable', async () => {
    const why = onednnUnavailableReason();
    if (why) await expect(selectBackend('onednn', 2)).rejects.toThrow(`backend "onednn" is unavailable (${why})`);
    else expect(await selectBackend('onednn', 2)).toBe('onednn');
  });

  it('a forced backend that cannot start is an error naming it', async () => {
    const hasNative = await import('@tensorflow/tfjs-node' as string).then(() => true, () => false);
    if (!hasNative) await expect(selectBackend('tensorflow')).rejects.toMatchObject({ name: 'BackendUnavailableError', message: expect.stringMatching(/"tensorflow" is unavailable/) });
    await expect(selectBackend('webgpu')).rejects.toThrow(/"webgpu" is unavailable/);
    await expect(selectBackend('tpu' as never)).rejects.toThrow(/unknown backend "tpu"/);
  });
});
