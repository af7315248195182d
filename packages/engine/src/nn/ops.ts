/** Dropout with seeded, backend-independent masks. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Inverted dropout with a mask from tfjs's seeded uniform generator, so a given seed drops the
 * same units on every backend and after a resume.
 */
export function dropout(x: tf.Tensor4D, rate: number, seed: number): tf.Tensor4D {
  if (rate <= 0) return x;
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
    return tf.mul(x, tf.div(keep, 1 - rate));
  });
}

