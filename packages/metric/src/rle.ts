import { RleError } from './errors.ts';

/**
 * Run-length encoding in the competition's format: space-separated `start length` pairs, starts
 * 1-indexed into the slice's pixels in row-major order. An empty mask is written `1 0`.
 */
export function rleEncode(mask: Uint8Array): string {
  const parts: number[] = [];
  const n = mask.length;
  let i = 0;
  while (i < n) {
    if (mask[i] === 0) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && mask[i] !== 0) i++;
    parts.push(start + 1, i - start);
  }
  return parts.length === 0 ? '1 0' : parts.join(' ');
}

/** Decodes `rle` into a new H x W mask of 0/1. See {@link rleDecodeInto} for the accepted syntax. */
export function rleDecode(rle: string, height: number, width: number): Uint8Array {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new RleError(`mask size must be positive integers, got ${height} x ${width}`);
  }
  return rleDecodeInto(rle, new Uint8Array(height * width));
}

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const ZERO = 48;
const NINE = 57;

/**
 * Decodes `rle` into `target` (cleared first, then runs set to 1) and returns it. Tokens are
 * non-negative integers separated by whitespace; an empty or blank string is an empty mask (some
 * submissions write that instead of `1 0`). Runs may come in any order and overlap, as the official
 * decoder allows. Throws {@link RleError} on a non-numeric token, an odd token count, a start of 0,
 * or a run past the end of the mask.
 */
export function rleDecodeInto(rle: string, target: Uint8Array): Uint8Array {
  target.fill(0);
  const n = target.length;
  const len = rle.length;
  let tokens = 0;
  let start = 0;
  let i = 0;
  while (i < len) {
    let c = rle.charCodeAt(i);
    if (c === SPACE || c === TAB || c === LF || c === CR) {
      i++;
      continue;
    }
    const tokenAt = i;
    let value = 0;
    while (i < len) {
      c = rle.charCodeAt(i);
      if (c < ZERO || c > NINE) break;
      value = value * 10 + (c - ZERO);
      i++;
    }
    if (i < len && c !== SPACE && c !== TAB && c !== LF && c !== CR) {
      let end = i;
      while (end < len && !/\s/.test(rle[end])) end++;
      throw new RleError(`non-numeric token "${rle.slice(tokenAt, end)}" at character ${tokenAt + 1}`, tokenAt);
    }
    if (!Number.isSafeInteger(value)) throw new RleError(`number too large at character ${tokenAt + 1}`, tokenAt);
    if (tokens % 2 === 0) {
      if (value < 1) throw new RleError(`run start ${value} at character ${tokenAt + 1}: starts are 1-indexed`, tokenAt);
      start = value;
    } else {
      if (start - 1 + value > n) {
        throw new RleError(
          `run "${start} ${value}" (character ${tokenAt + 1}) ends at pixel ${start - 1 + value}, past the ${n} pixels of the mask`,
          tokenAt,
        );
      }
      target.fill(1, start - 1, start - 1 + value);
    }
    tokens++;
  }
  if (tokens % 2 !== 0) throw new RleError(`odd number of tokens (${tokens}): every start needs a length`);
  return target;
}
