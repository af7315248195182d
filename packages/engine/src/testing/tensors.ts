/**
 * Helpers for tests that compare a kernel on one backend against a reference: the same seeded
 * inputs on each backend, and a closeness check relative to the reference's magnitude.
 */
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@capillary/volumes';

export function randomArray(n: number, seed: number): Float32Array {
  const r = Rng.of(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

/** Runs f on a backend with fresh tensors built from the same arrays; returns the outputs' values. */
export async function valuesOn(backend: string, shapes: number[][], f: (...t: tf.Tensor[]) => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const ins = shapes.map((s, i) => tf.tensor(randomArray(s.reduce((a, b) => a * b, 1), 100 + i), s));
  const outs = f(...ins);
  const values = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
  tf.dispose([...ins, ...outs]);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

/**
 * `a` is within `tol` of the reference `b`, relative to b's largest magnitude (at least 1). A
 * reference of all zeros would make any kernel pass, so it is refused.
 */
export function expectClose(a: Float32Array, b: Float32Array, tol: number) {
  expect(a.length).toBe(b.length);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  expect(maxRef).toBeGreaterThan(0);
  expect(maxErr).toBeLessThanOrEqual(tol * Math.max(1, maxRef));
}
