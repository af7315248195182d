// Reference implementations in benchmarks use Debian's Python packages (never the product).
// Installed here when missing, as root; otherwise the exact command is printed.
import { execFileSync, spawnSync } from 'node:child_process';

/** Makes `/usr/bin/python3` import each module, installing the Debian packages that provide them. */
export function ensurePythonModules(modules: Record<string, string>): void {
  const missing = Object.entries(modules)
    .filter(([mod]) => spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status !== 0)
    .map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the reference needs Debian packages: run as root: apt-get update && apt-get install -y ${missing.join(' ')}`);
  }
  console.log(`installing ${missing.join(', ')} for the reference implementation`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
}
