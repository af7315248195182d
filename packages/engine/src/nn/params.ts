/**
 * Named model state: trainable weights and batch-norm running statistics, created in a fixed order
 * with values drawn in JS from a seeded stream, so a seed gives the same network on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@capillary/volumes';

export type Init = { kind: 'he'; fanIn: number } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'constant'; value: number };

export class ParamStore {
  private readonly vars = new Map<string, tf.Variable>();
  private readonly trainableNames = new Set<string>();
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = Rng.of(seed, 0x5eed);
  }

  /** Creates a variable; names must be unique. */
  add(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} defined twice`);
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (init.kind === 'he') {
      const std = Math.sqrt(2 / init.fanIn);
      for (let i = 0; i < n; i++) values[i] = this.rng.normal() * std;
    } else if (init.kind === 'ones') values.fill(1);
    else if (init.kind === 'constant') values.fill(init.value);
    const initial = tf.tensor(values, shape);
    const v = tf.variable(initial, trainable, `${name}_${nextId++}`);
    initial.dispose();
    this.vars.set(name, v);
    if (trainable) this.trainableNames.add(name);
    return v;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  /** All variables, in creation order. */
  entries(): Array<[string, tf.Variable]> {
    return [...this.vars.entries()];
  }

  trainable(): Array<[string, tf.Variable]> {
    return this.entries().filter(([n]) => this.trainableNames.has(n));
  }

  isTrainable(name: string): boolean {
    return this.trainableNames.has(name);
  }

  /** Number of trainable scalars. */
  countTrainable(): number {
    return this.trainable().reduce((a, [, v]) => a + v.size, 0);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

// Variable names must be unique per process; the store's own names stay stable for checkpoints.
let nextId = 0;
