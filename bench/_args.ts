// Command-line options of the benches: `node:util`'s parseArgs in strict mode, so an unknown option,
// an option missing its value or a count that is not one ends the bench with a message naming the
// option (exit code 2), before any stack or process starts.
import { parseArgs, type ParseArgsConfig } from 'node:util';

function refuse(message: string): never {
  console.error(message);
  process.exit(2);
}

/** `process.argv` parsed against `config` (strict unless it says otherwise); bad input ends the bench. */
export function benchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    return refuse((e as Error).message);
  }
}

/** The value of `--name` as an integer of at least `min`; anything else ends the bench naming it. */
export function integerArg(name: string, value: string | undefined, min = 1): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < min) {
    return refuse(`--${name}: expected an integer of at least ${min}, got "${value}"`);
  }
  return n;
}
