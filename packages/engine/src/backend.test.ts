import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, selectBackend } from './backend.ts';

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

  it('auto falls back to wasm when TensorFlow native is not installed', async () => {
    expect(await selectBackend('auto', 2)).toBe(tf.findBackendFactory('tensorflow') ? 'tensorflow' : 'wasm');
  });

  it('a forced backend that cannot start is an error naming it', async () => {
    const hasNative = await import('@tensorflow/tfjs-node' as string).then(() => true, () => false);
    if (!hasNative) await expect(selectBackend('tensorflow')).rejects.toMatchObject({ name: 'BackendUnavailableError', message: expect.stringMatching(/"tensorflow" is unavailable/) });
    await expect(selectBackend('webgpu')).rejects.toThrow(/"webgpu" is unavailable/);
    await expect(selectBackend('tpu' as never)).rejects.toThrow(/unknown backend "tpu"/);
  });
});
