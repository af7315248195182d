// Run by kernels.test.ts in a child process with CAPILLARY_ONEDNN=0: the addon's availability is
// decided once per process, so the fallback is checked where it was never loaded.
import { selectBackend } from '../backend.ts';

const forced = await selectBackend('onednn', 2).then(
  (name) => `selected ${name}`,
  (e: Error) => `${e.name}: ${e.message}`,
);
const auto = await selectBackend('auto', 2);
process.stdout.write(JSON.stringify({ forced, auto }));
process.exit(0);
