/** One optimiser step, shared by the training loop and the benchmark. */
import * as tf from '@tensorflow/tfjs-core';
import { segmentationLoss, type LossSpec } from './loss.ts';
import type { SegmentationModel } from './models/unet.ts';
import type { Adam } from './optimizer.ts';

/**
 * Forward, loss, gradients and an Adam update on one batch; returns the loss. Leaves no tensors
 * behind (inputs stay the caller's).
 */
export async function trainStep(
  model: SegmentationModel,
  adam: Adam,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  o: { loss: LossSpec; learningRate: number; dropoutSeed: number },
): Promise<number> {
  const vars = model.params.trainable().map(([, v]) => v);
  let value: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap = {};
  try {
    ({ value, grads } = tf.variableGrads(
      () => segmentationLoss(o.loss, model.apply(x, { training: true, dropoutSeed: o.dropoutSeed }), y),
      vars,
    ));
    adam.apply(grads, o.learningRate);
    return (await value.data())[0];
  } finally {
    tf.dispose([...(value ? [value] : []), ...Object.values(grads)]);
  }
}
