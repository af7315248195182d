import { describe, expect, it } from 'vitest';
import { RleError } from './errors.ts';
import { rleDecode, rleDecodeInto, rleEncode } from './rle.ts';

describe('rleEncode / rleDecode', () => {
  it('uses 1-indexed row-major starts', () => {
    // 2 x 3: row 0 = 0 1 1, row 1 = 1 0 1
    const mask = Uint8Array.from([0, 1, 1, 1, 0, 1]);
    expect(rleEncode(mask)).toBe('2 3 6 1');
    expect(Array.from(rleDecode('2 3 6 1', 2, 3))).toEqual([0, 1, 1, 1, 0, 1]);
  });

  it('writes an empty slice as "1 0" and reads it back empty (also blank strings)', () => {
    expect(rleEncode(new Uint8Array(12))).toBe('1 0');
    expect(Array.from(rleDecode('1 0', 3, 4))).toEqual(new Array(12).fill(0));
    expect(Array.from(rleDecode('', 3, 4))).toEqual(new Array(12).fill(0));
    expect(Array.from(rleDecode('  \n', 3, 4))).toEqual(new Array(12).fill(0));
  });

  it('treats any nonzero value as foreground and round-trips random masks', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 50; trial++) {
      const h = 1 + Math.floor(rand() * 20);
      const w = 1 + Math.floor(rand() * 20);
      const density = rand();
      const mask = Uint8Array.from({ length: h * w }, () => (rand() < density ? (rand() < 0.5 ? 255 : 1) : 0));
      const decoded = rleDecode(rleEncode(mask), h, w);
      expect(Array.from(decoded)).toEqual(Array.from(mask, (v) => (v ? 1 : 0)));
    }
    expect(rleEncode(new Uint8Array([255, 255]))).toBe('1 2');
  });

  it('accepts runs out of order, overlapping, and extra whitespace, like the official decoder', () => {
    expect(Array.from(rleDecode(' 5 2  1 2\t2 1 ', 2, 3))).toEqual([1, 1, 0, 0, 1, 1]);
  });

  it('clears the target before decoding into it', () => {
    const target = new Uint8Array(4).fill(1);
    expect(Array.from(rleDecodeInto('2 1', target))).toEqual([0, 1, 0, 0]);
  });

  it.each([
    ['1 2 3', /odd number of tokens/],
    ['1 5', /past the 4 pixels/],
    ['4 2', /past the 4 pixels/],
    ['0 1', /1-indexed/],
    ['1 x', /non-numeric token "x"/],
    ['1 -2', /non-numeric token "-2"/],
    ['1.5 1', /non-numeric token "1.5"/],
    ['1,2', /non-numeric token "1,2"/],
  ])('rejects %j', (rle, message) => {
    expect(() => rleDecode(rle, 2, 2)).toThrow(RleError);
    expect(() => rleDecode(rle, 2, 2)).toThrow(message);
  });

  it('rejects a bad mask size', () => {
    expect(() => rleDecode('1 0', 0, 3)).toThrow(RleError);
  });
});
