// The import rules of the monorepo, checked by `test/boundaries.test.ts` in `npm test`:
//  - the layers run one way (LAYERS below): apps -> engine -> volumes -> storage/queue/db ->
//    contracts, with the registry (the lifecycle owner) above storage, queue and db, and telemetry
//    (traces) beside contracts at the bottom;
//  - a package is reached only through its face (the `exports` of its package.json): a deep
//    subpath does not resolve, and a relative path into another package is refused;
//  - no circles; every package declares in its package.json what it imports.
/** For each workspace folder, the workspace folders its production code may import. */
const LAYERS = {
  'packages/contracts': [],
  'packages/metric': [],
  'packages/telemetry': [],
  'packages/db': ['packages/contracts'],
  'packages/storage': ['packages/contracts', 'packages/telemetry'],
  'packages/queue': ['packages/contracts', 'packages/telemetry'],
  'packages/volumes': ['packages/contracts', 'packages/db', 'packages/storage', 'packages/metric'],
  'packages/engine': ['packages/contracts', 'packages/metric', 'packages/volumes'],
  'packages/search': ['packages/contracts', 'packages/volumes'],
  'packages/registry': ['packages/contracts', 'packages/db', 'packages/queue', 'packages/storage', 'packages/search', 'packages/telemetry'],
  'packages/devstack': ['packages/contracts'],
  'apps/dashboard': ['packages/contracts'],
  'apps/worker': ['packages/contracts', 'packages/db', 'packages/storage', 'packages/queue', 'packages/metric', 'packages/volumes', 'packages/engine', 'packages/registry', 'packages/telemetry'],
  'apps/api': ['packages/contracts', 'packages/db', 'packages/storage', 'packages/queue', 'packages/metric', 'packages/volumes', 'packages/engine', 'packages/registry', 'packages/search', 'packages/telemetry'],
};
const WORKSPACE = '^(apps|packages)/[^/]+/';
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const TESTS = '\\.test\\.tsx?$|/testing/';

module.exports = {
  forbidden: [
    ...Object.entries(LAYERS).map(([from, allowed]) => ({
      name: `layer:${from}`,
      comment: `${from} may import only ${allowed.length ? allowed.join(', ') : 'no other workspace'} (the layers run one way: apps -> engine -> volumes -> storage/queue/db -> contracts)`,
      severity: 'error',
      from: { path: `^${escape(from)}/`, pathNot: TESTS },
      to: { path: WORKSPACE, pathNot: [from, ...allowed].map((p) => `^${escape(p)}/`) },
    })),
    {
      name: 'no-relative-path-into-another-workspace',
      comment: 'another workspace is imported by its package name, through its face, never by a relative path into its files',
      severity: 'error',
      from: { path: '^((apps|packages)/[^/]+)/' },
      to: { path: WORKSPACE, pathNot: '^$1/', dependencyTypes: ['local'], dependencyTypesNot: ['aliased-workspace'] },
    },
    {
      name: 'no-relative-path-into-a-workspace',
      comment: 'tests, benches and scripts import a workspace by its package name, through its face (setup.mjs alone runs before `npm ci` links the workspaces, so it reaches the devstack `./debian` entry by its path)',
      severity: 'error',
      from: { pathNot: [WORKSPACE, '^scripts/setup\\.mjs$'] },
      to: { path: WORKSPACE, dependencyTypes: ['local'], dependencyTypesNot: ['aliased-workspace'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve: a typo, or a subpath that is not in the package\'s face (its `exports`)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: WORKSPACE },
      to: { circular: true },
    },
    {
      name: 'declared-dependencies',
      comment: 'every package declares in its package.json what it imports (the test runner and its property-testing library are the root\'s, for every workspace)',
      severity: 'error',
      from: { path: WORKSPACE },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'], pathNot: '^node_modules/(vitest|fast-check)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(packages/db/generated|apps/dashboard/dist|\\.run|\\.scratch)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
