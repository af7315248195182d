import { Command } from 'commander';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

/** Each file in commands/ exports `register(program)`; adding a command means adding a file. */
export interface CommandModule {
  register(program: Command): void;
}

const program = new Command('capillary')
  .description('Capillary: queue, train and compare 3D vessel segmentation experiments')
  .showHelpAfterError();

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands');
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()) {
  const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as CommandModule;
  mod.register(program);
}

// Long-running commands (api, worker, stack up --wait) never resolve; every other command exits
// when its work is done, even when a library left a handle open (tfjs' wasm thread pool, sockets
// kept alive by the S3 client).
try {
  await program.parseAsync(process.argv);
  process.exit(process.exitCode ?? 0);
} catch (e) {
  console.error(`capillary: ${(e as Error).message}`);
  process.exit(1);
}
