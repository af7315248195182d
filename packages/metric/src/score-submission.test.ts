import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ScoringInputError } from './errors.ts';
import { rleEncode } from './rle.ts';
import { scoreSubmission } from './score-submission.ts';
import { SubmissionWriter, sliceId } from './submission-writer.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const casesDir = path.join(repoRoot, '../shared/metric-cases');
const haveCases = existsSync(casesDir);
if (!haveCases) console.warn(`metric-cases not found at ${casesDir}: skipping the official-number checks`);

interface Expected {
  score: number | null;
  per_image: Record<string, number | null>;
}

describe.runIf(haveCases)('scoreSubmission on the official reference cases', () => {
  const cases = haveCases ? readdirSync(casesDir).filter((d) => existsSync(path.join(casesDir, d, 'expected.json'))) : [];
  it('has cases to check', () => expect(cases.length).toBeGreaterThan(10));
  it.each(cases)('%s matches the official numbers within 1e-5', async (name) => {
    const dir = path.join(casesDir, name);
    const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
    const got = await scoreSubmission(path.join(dir, 'solution.csv'), path.join(dir, 'submission.csv'));
    expect(Object.keys(got.perImage).sort()).toEqual(Object.keys(expected.per_image).sort());
    for (const [image, value] of Object.entries(expected.per_image)) {
      if (value === null) {
        expect(got.perImage[image]).toBeNull();
        expect(got.reasons?.[image]).toMatch(/empty/);
      } else expect(Math.abs(got.perImage[image]! - value)).toBeLessThan(1e-5);
    }
    if (expected.score === null) expect(got.score).toBeNull();
    else expect(Math.abs(got.score! - expected.score)).toBeLessThan(1e-5);
  });
});

describe('scoreSubmission input handling', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'capillary-metric-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (text: string) => {
    const f = path.join(dir, `f${n++}.csv`);
    writeFileSync(f, text);
    return f;
  };
  const solution = file(
    'id,rle,width,height,image,slice\n' +
      // rows out of slice order on purpose; image b is a single slice
      'a_0001,1 4,2,2,a,1\n' +
      'a_0000,1 2,2,2,a,0\n' +
      'b_0000,1 0,3,1,b,0\n',
  );

  it('groups by image, orders slices, and explains null images', async () => {
    const sub = file('id,rle\nb_0000,1 0\na_0000,1 2\na_0001,1 4\n');
    const got = await scoreSubmission(solution, sub);
    expect(got).toEqual({ score: 1, perImage: { a: 1, b: null }, reasons: { b: expect.stringMatching(/both empty/) } });
  });

  it('gives a null mean when no image has a score', async () => {
    const sol = file('id,rle,width,height,image,slice\nb_0000,1 0,3,1,b,0\n');
    const got = await scoreSubmission(sol, file('id,rle\nb_0000,\n'));
    expect(got.score).toBeNull();
  });

  it('scores a single-slice volume as a slab', async () => {
    const sol = file('id,rle,width,height,image,slice\nc_0000,1 4,2,2,c,0\n');
    const got = await scoreSubmission(sol, file('id,rle\nc_0000,1 2\n'));
    expect(got.perImage.c).toBeGreaterThan(0);
    expect(got.perImage.c).toBeLessThan(1);
  });

  const rejects = async (sol: string, sub: string, pattern: RegExp, named: string) => {
    const err = await scoreSubmission(sol, sub).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ScoringInputError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as ScoringInputError).file).toBe(named);
  };

  it('names the file and columns when columns are missing', async () => {
    const sub = file('id,prediction\na_0000,1 2\n');
    await rejects(solution, sub, /line 1: missing column rle/, sub);
    const sol = file('id,rle,image\na_0000,1 2,a\n');
    await rejects(sol, file('id,rle\na_0000,1 2\n'), /missing columns width, height, slice/, sol);
  });

  it('names the missing id and where it is', async () => {
    const sub = file('id,rle\na_0000,1 2\na_0001,1 4\n');
    await rejects(solution, sub, /"b_0000" \(line 4 of .*\) is missing from the submission/, sub);
  });

  it('rejects ids that are not in the solution, and duplicates', async () => {
    const extra = file('id,rle\nb_0000,1 0\na_0000,1 2\na_0001,1 4\nz_0000,1 0\n');
    await rejects(solution, extra, /line 5: id "z_0000" is not in the solution/, extra);
    const dup = file('id,rle\nb_0000,1 0\nb_0000,1 0\n');
    await rejects(solution, dup, /line 3: duplicate id "b_0000"/, dup);
  });

  it('names file and line of bad RLE', async () => {
    const sub = file('id,rle\nb_0000,1 0\na_0000,1 2 3\na_0001,1 4\n');
    await rejects(solution, sub, /line 3: bad RLE for "a_0000": odd number of tokens/, sub);
    const past = file('id,rle\nb_0000,1 9\na_0000,1 2\na_0001,1 4\n');
    await rejects(solution, past, /line 2: bad RLE for "b_0000": .*past the 3 pixels/, past);
  });

  it('rejects bad numbers, sizes that change within an image, and repeated slices', async () => {
    const sub = file('id,rle\na_0000,1 2\na_0001,1 4\n');
    const badWidth = file('id,rle,width,height,image,slice\na_0000,1 2,x,2,a,0\na_0001,1 4,2,2,a,1\n');
    await rejects(badWidth, sub, /line 2: width must be an integer/, badWidth);
    const mixed = file('id,rle,width,height,image,slice\na_0000,1 2,2,2,a,0\na_0001,1 4,4,1,a,1\n');
    await rejects(mixed, sub, /line 3: image "a" slice 1 is 1 x 4/, mixed);
    const repeated = file('id,rle,width,height,image,slice\na_0000,1 2,2,2,a,0\na_0001,1 4,2,2,a,0\n');
    await rejects(repeated, sub, /slice 0 twice/, repeated);
  });

  it('reports unreadable, empty and malformed CSV files', async () => {
    const missing = path.join(dir, 'nope.csv');
    await rejects(solution, missing, /cannot read file \(ENOENT\)/, missing);
    const empty = file('');
    await rejects(solution, empty, /file is empty/, empty);
    const ragged = file('id,rle\nb_0000,1 0,extra\n');
    await rejects(solution, ragged, /line 2/, ragged);
  });

  it('reads back what SubmissionWriter wrote', async () => {
    const out = path.join(dir, 'written.csv');
    const writer = new SubmissionWriter(createWriteStream(out));
    await writer.write('a', 1, Uint8Array.from([1, 1, 1, 1]));
    await writer.write('a', 0, Uint8Array.from([9, 9, 0, 0]));
    await writer.write('b', 0, new Uint8Array(3));
    await writer.end();
    expect(writer.rowCount).toBe(3);
    expect(readFileSync(out, 'utf8')).toBe('id,rle\na_0001,1 4\na_0000,1 2\nb_0000,1 0\n');
    expect(await scoreSubmission(solution, out)).toMatchObject({ score: 1, perImage: { a: 1, b: null } });
  });

  it('writes a header-only file when nothing was predicted, and quotes odd ids', async () => {
    const out = path.join(dir, 'none.csv');
    const writer = new SubmissionWriter(createWriteStream(out));
    await writer.end();
    expect(readFileSync(out, 'utf8')).toBe('id,rle\n');
    const quoted = path.join(dir, 'quoted.csv');
    const odd = new SubmissionWriter(createWriteStream(quoted));
    await odd.write('a,"b"', 0, new Uint8Array(1));
    await odd.end();
    expect(readFileSync(quoted, 'utf8')).toBe('id,rle\n"a,""b""_0000",1 0\n');
    expect(sliceId('kidney_5', 7)).toBe('kidney_5_0007');
    expect(() => sliceId('k', -1)).toThrow(RangeError);
    expect(rleEncode(new Uint8Array([0, 1]))).toBe('2 1');
  });
});
