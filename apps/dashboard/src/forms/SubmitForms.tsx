import { useMemo, useState } from 'preact/hooks';
import { api, ApiError, type FieldIssue } from '../api.ts';
import { href } from '../router.ts';
import { SpecFields, Field } from './SpecFields.tsx';
import { GRID_FIELDS, SPEC_FIELDS, gridFromForm, gridSize, issuesByTarget, specFromForm, type FormValues } from './spec-fields.ts';
import type { DatasetSummary, Experiment } from '../types.ts';

/** What a new form starts with: a run small enough to finish in minutes on a CPU. */
const STARTER: FormValues = { model: 'unet', epochs: '2', lr: '0.003', augmentationP: '0.2', batchSize: '2', tileSize: '32', stepsPerEpoch: '3', baseFilters: '4', depth: '2' };

function useSubmit() {
  const [issues, setIssues] = useState<FieldIssue[]>([]);
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setIssues([]);
    setMessage(undefined);
    try {
      await fn();
    } catch (e) {
      const err = e as Error;
      setMessage(err.message);
      setIssues(err instanceof ApiError ? err.issues : []);
    } finally {
      setBusy(false);
    }
  };
  return { issues, message, busy, run, setMessage };
}

/** Said above the submit button: the refusal, and the issues that belong to no field. */
function refusal(what: string, issues: FieldIssue[], general: string[] | undefined, message?: string): string | undefined {
  if (!issues.length) return message;
  const marked = issues.length - (general?.length ?? 0);
  return `The API refused this ${what}${marked > 0 ? `: see the ${marked === 1 ? 'field' : 'fields'} marked above` : ':'}`;
}

function GeneralErrors({ message, general }: { message?: string; general?: string[] }) {
  if (!message && !general?.length) return null;
  return (
    <div class="error" role="alert" data-testid="form-error">
      {message}
      {general && general.length > 0 && (
        <ul>
          {general.map((g) => (
            <li key={g}>{g}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function ExperimentForm({ datasets, onCreated }: { datasets: DatasetSummary[]; onCreated(): void }) {
  const [values, setValues] = useState<FormValues>(() => ({ ...STARTER, dataset: datasets[0]?.name ?? '' }));
  const [created, setCreated] = useState<Experiment>();
  const s = useSubmit();
  const known = useMemo(() => new Set(SPEC_FIELDS.map((f) => f.key)), []);
  const byTarget = issuesByTarget(s.issues, known);

  const submit = (e: Event) => {
    e.preventDefault();
    void s.run(async () => {
      setCreated(undefined);
      setCreated(await api<Experiment>('POST', '/experiments', { body: specFromForm(values) }));
      onCreated();
    });
  };
  return (
    <form onSubmit={submit} data-testid="experiment-form" noValidate>
      <SpecFields values={values} onChange={(k, v) => setValues((o) => ({ ...o, [k]: v }))} issues={byTarget} datasets={datasets} />
      <GeneralErrors message={refusal('experiment', s.issues, byTarget.get(''), s.message)} general={byTarget.get('')} />
      <button type="submit" disabled={s.busy}>
        queue experiment
      </button>
      {created && (
        <p class="ok" data-testid="created">
          Queued <a href={href(`/experiments/${created.id}`)}>{created.name ?? created.id}</a>.
        </p>
      )}
    </form>
  );
}

export function SweepForm({ datasets, onCreated }: { datasets: DatasetSummary[]; onCreated(): void }) {
  const [name, setName] = useState('');
  const [base, setBase] = useState<FormValues>(() => {
    const { model: _m, lr: _l, epochs: _e, ...rest } = STARTER;
    return { ...rest, dataset: datasets[0]?.name ?? '' };
  });
  const [grid, setGrid] = useState<FormValues>({ model: 'unet', epochs: '1, 2', lr: '0.003, 0.001' });
  const [created, setCreated] = useState<{ id: string; experiments: unknown[] }>();
  const s = useSubmit();
  const gridValues = gridFromForm(grid);
  const gridKeys = Object.keys(gridValues);
  const known = useMemo(() => new Set(['name', 'grid', ...SPEC_FIELDS.map((f) => `base.${f.key}`), ...GRID_FIELDS.map((k) => `grid.${k}`)]), []);
  const byTarget = issuesByTarget(s.issues, known, gridKeys);
  // A field the grid lists is not also asked for in the base.
  const omit = new Set(gridKeys);

  const submit = (e: Event) => {
    e.preventDefault();
    void s.run(async () => {
      setCreated(undefined);
      const body = { name, base: specFromForm(Object.fromEntries(Object.entries(base).filter(([k]) => !omit.has(k)))), grid: gridValues };
      setCreated(await api('POST', '/sweeps', { body }));
      onCreated();
    });
  };
  return (
    <form onSubmit={submit} data-testid="sweep-form" noValidate>
      <div class="fields">
        <Field name="name" label="sweep name" messages={byTarget.get('name')}>
          <input name="name" type="text" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      <fieldset>
        <legend>grid: comma-separated values; every combination becomes one run</legend>
        <div class="fields">
          {GRID_FIELDS.map((k) => (
            <Field key={k} name={`grid.${k}`} label={SPEC_FIELDS.find((f) => f.key === k)!.label} messages={byTarget.get(`grid.${k}`)}>
              <input name={`grid.${k}`} type="text" value={grid[k] ?? ''} onInput={(e) => setGrid((g) => ({ ...g, [k]: (e.target as HTMLInputElement).value }))} autocomplete="off" />
            </Field>
          ))}
        </div>
        {byTarget.get('grid')?.map((m) => (
          <div class="field-error" key={m} data-field-error="grid">
            {m}
          </div>
        ))}
        <p class="muted" data-testid="grid-size">
          expands to {gridSize(gridValues)} experiment{gridSize(gridValues) === 1 ? '' : 's'}
        </p>
      </fieldset>
      <fieldset>
        <legend>shared by every run</legend>
        <SpecFields prefix="base." values={base} onChange={(k, v) => setBase((o) => ({ ...o, [k]: v }))} issues={byTarget} datasets={datasets} omit={omit} />
      </fieldset>
      <GeneralErrors message={refusal('sweep', s.issues, byTarget.get(''), s.message)} general={byTarget.get('')} />
      <button type="submit" disabled={s.busy}>
        queue sweep
      </button>
      {created && (
        <p class="ok" data-testid="created">
          Queued a sweep of {created.experiments.length} experiments. <a href={href('/')}>See the leaderboard</a>.
        </p>
      )}
    </form>
  );
}
