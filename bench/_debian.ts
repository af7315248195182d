// Reference implementations in benchmarks use Debian's Python packages (never the product).
// Installed here when missing, as root; otherwise the exact command is printed.
import { spawnSync } from 'node:child_process';
import { installDebianPackages } from '@capillary/devstack';

/** Makes `/usr/bin/python3` import each module, installing the Debian packages that provide them. */
export function ensurePythonModules(modules: Record<string, string>): void {
  const missing = Object.entries(modules)
    .filter(([mod]) => spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status !== 0)
    .map(([, pkg]) => pkg);
  const apt = installDebianPackages(missing, {
    announce: (pkgs) => console.log(`installing ${pkgs.join(', ')} for the reference implementation`),
  });
  if (apt.outcome === 'not-root') throw new Error(`the reference needs Debian packages: run as root: ${apt.command}`);
  if (apt.outcome === 'failed') throw new Error(`\`${apt.command}\` failed (apt-get's output is above)`);
}
