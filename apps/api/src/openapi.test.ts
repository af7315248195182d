import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { buildApp } from './app.ts';

/** Type-checks `files` (name -> source) together, strictly; returns the compiler's messages. */
function typeCheck(dir: string, files: Record<string, string>): string[] {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const program = ts.createProgram(
    Object.keys(files).map((f) => path.join(dir, f)),
    { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [], lib: ['lib.es2022.d.ts'] },
  );
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('OpenAPI document at /docs/json', () => {
  let app: Awaited<ReturnType<typeof buildApp>>;
  let doc: any;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'capillary-openapi-'));

  beforeAll(async () => {
    // Rate-limit counters live in Redis and are shared with the files before this one: no limit here.
    app = await buildApp({ env: parseEnv({ ...process.env, PORT: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', RECONCILER: 'false' }), db: prisma(), logger: false });
    const res = await app.inject('/docs/json');
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a valid OpenAPI 3.1 document (swagger-parser) covering the public routes', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
    for (const [route, method] of [['/experiments', 'post'], ['/experiments/{id}', 'get'], ['/sweeps', 'post'], ['/leaderboard', 'get'], ['/volumes/{id}/slices/{axis}/{index}', 'get']]) {
      expect(doc.paths[route]?.[method], `${method.toUpperCase()} ${route}`).toBeDefined();
    }
    // The validator does check schema keywords: the 3.0 dialect the document used to declare fails.
    await expect(SwaggerParser.validate({ ...structuredClone(doc), openapi: '3.0.3' })).rejects.toThrow(/exclusiveMinimum must be boolean/);
  });

  it('generates a client (openapi-typescript) that compiles and types the routes', async () => {
    const schema = astToString(await openapiTS(structuredClone(doc)));
    const messages = typeCheck(dir, {
      'schema.d.ts': schema,
      'client.ts': `import type { paths } from './schema';
type SpecBody = paths['/experiments']['post']['requestBody'] extends infer B ? B extends { content: { 'application/json': infer J } } ? J : never : never;
type Leaderboard = paths['/leaderboard']['get']['responses']['200']['content']['application/json'];
export const lr: SpecBody['lr'] = 0.001;
export const model: SpecBody['model'] = 'unet';
// @ts-expect-error the learning rate is a number
export const badLr: SpecBody['lr'] = 'fast';
// @ts-expect-error the model is one of the declared names
export const badModel: SpecBody['model'] = 'transformer';
export function firstId(board: Leaderboard): string | undefined {
  return board.rows[0]?.experimentId;
}
`,
    });
    expect(messages).toEqual([]);
    // The checker does report mistakes in this setup.
    expect(typeCheck(dir, { 'broken.ts': `import type { paths } from './schema';\nexport const p: keyof paths = '/no-such-route';\n` })).toEqual([
      expect.stringMatching(/broken\.ts:2 .*'"\/no-such-route"' is not assignable/),
    ]);
  });
});
