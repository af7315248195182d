/** Debian packages to install, each mapped to a file it installs: the file's presence means installed. */
export type DebianPackages = Record<string, string>;

/** What {@link installDebianPackages} did; `command` is what a root user runs to install the packages. */
export interface DebianInstall {
  outcome: 'nothing-missing' | 'installed' | 'not-root' | 'failed';
  command: string;
}

/** The packages of `wanted` whose file is absent, in the order given. */
export function missingDebianPackages(wanted: DebianPackages): string[];

/** The exact command for a root user to install `packages` (`apt-get update && apt-get install -y …`). */
export function aptGetCommand(packages: string[]): string;

/**
 * Installs `packages` with apt-get when this process is root; otherwise installs nothing and returns
 * `not-root`, leaving the caller to print `command`. `failed` when apt-get exits non-zero (it has
 * printed why on the inherited stderr).
 * @param opts.recommends `false` adds `--no-install-recommends`
 * @param opts.announce called just before apt-get runs
 */
export function installDebianPackages(
  packages: string[],
  opts?: { recommends?: boolean; announce?: (packages: string[]) => void },
): DebianInstall;
