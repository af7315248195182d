import {
  ExperimentSpec,
  MAX_SWEEP_SIZE,
  Validator,
  ValidationError,
  applyModelDefaults,
  specRuleIssues,
  trainingCostIssues,
  type CostLimits,
  type FieldIssue,
  type SweepGrid,
  type SweepSpec,
} from '@capillary/contracts';

const specValidator = new Validator('experiment', ExperimentSpec);

type GridField = keyof SweepGrid;
const gridEntries = (grid: SweepGrid) => Object.entries(grid).filter(([, v]) => v !== undefined) as [GridField, unknown[]][];

/** Experiments a grid expands to: the product of its list lengths, known without expanding it. */
export function sweepSize(grid: SweepGrid): number {
  return gridEntries(grid).reduce((n, [, values]) => n * values.length, 1);
}

/** Lists of volume names are sets: the same names in another order are the same value. */
const identity = (v: unknown) => JSON.stringify(Array.isArray(v) ? [...v].sort() : v);

/**
 * Problems of the grid's shape, found before any combination is built: a value listed twice (two
 * identical runs) and a product over MAX_SWEEP_SIZE. Costs O(sum of list lengths).
 */
export function gridShapeIssues(grid: SweepGrid): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [field, values] of gridEntries(grid)) {
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const id = identity(v);
      const first = seen.get(id);
      if (first === undefined) seen.set(id, i);
      else issues.push({ field: `/grid/${field}/${i}`, message: `repeats the value at /grid/${field}/${first} (${id}); each value may be listed once` });
    });
  }
  const size = sweepSize(grid);
  if (size > MAX_SWEEP_SIZE) {
    const lengths = gridEntries(grid).map(([f, v]) => `${f} ${v.length}`).join(' x ');
    issues.push({ field: '/grid', message: `expands to ${size} experiments (${lengths}); at most ${MAX_SWEEP_SIZE}` });
  }
  return issues;
}

const pushOnce = (issues: FieldIssue[], issue: FieldIssue) => {
  if (!issues.some((x) => x.field === issue.field)) issues.push(issue);
};

/** The combinations of a grid's lists, in list order (the last field varies fastest). */
export function gridCombos(grid: SweepGrid): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [field, values] of gridEntries(grid)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [field]: v })));
  }
  return combos;
}

/**
 * Expands a sweep grid into full specs (cartesian product over the listed fields). The grid's shape
 * is checked first, so an oversized grid is refused without building a single combination.
 * Budget problems of a cell are named by the grid or base field that drives them, once per field.
 */
export function expandGrid(sweep: Pick<SweepSpec, 'base'> & { grid: SweepGrid }, limits?: CostLimits, fixed: Record<string, unknown> = {}): { specs: ExperimentSpec[]; issues: FieldIssue[] } {
  const shape = gridShapeIssues(sweep.grid);
  if (shape.length) return { specs: [], issues: shape };
  return specsOf(sweep.base, gridCombos(sweep.grid).map((c) => ({ ...c, ...fixed })), limits, { source: '/grid', what: 'of the grid' });
}

/**
 * Full specs from the sweep's base and, per run, the fields its strategy chose (`combos[i]`).
 * A field missing from both is a problem of the base, reported once; budget problems are named
 * by the chosen field (`source`) or the base field that drives them, once per field.
 */
export function specsOf(base: SweepSpec['base'], combos: Record<string, unknown>[], limits: CostLimits | undefined, where: { source: string; what: string }): { specs: ExperimentSpec[]; issues: FieldIssue[] } {
  const specs: ExperimentSpec[] = [];
  const issues: FieldIssue[] = [];
  combos.forEach((combo, i) => {
    const raw = applyModelDefaults({ ...structuredClone(base), ...combo });
    let spec: ExperimentSpec;
    try {
      spec = specValidator.parse(raw);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      for (const f of e.issues) {
        const name = f.field.slice(1).split('/')[0];
        const field = name in combo ? `${where.source}/${name}` : `/base${f.field}`;
        if (!issues.some((x) => x.field === field && x.message === f.message)) issues.push({ field, message: f.message });
      }
      return;
    }
    for (const f of specRuleIssues(spec, `/experiments/${i}`)) issues.push(f);
    if (limits) {
      for (const f of trainingCostIssues(spec, limits)) {
        const name = f.field.slice(1);
        pushOnce(issues, { field: name in combo ? `${where.source}/${name}` : `/base/${name}`, message: `${f.message} (experiment ${i} ${where.what})` });
      }
    }
    specs.push(spec);
  });
  return { specs, issues };
}
