import type { ComponentChildren } from 'preact';
import { SPEC_FIELDS, type FieldDef, type FormValues } from './spec-fields.ts';
import type { DatasetSummary } from '../types.ts';

interface Props {
  /** Prefix of the field names in `issues` and in the inputs' `name` (e.g. `base.`). */
  prefix?: string;
  values: FormValues;
  onChange(key: string, value: string): void;
  issues: Map<string, string[]>;
  datasets: DatasetSummary[];
  /** Fields left out (a sweep's grid may own them). */
  omit?: ReadonlySet<string>;
}

/** Inputs for the fields of an experiment spec, each with the API's messages for it underneath. */
export function SpecFields({ prefix = '', values, onChange, issues, datasets, omit }: Props) {
  const fields = SPEC_FIELDS.filter((f) => !omit?.has(f.key));
  const render = (f: FieldDef) => (
    <Field key={f.key} name={prefix + f.key} label={f.label} messages={issues.get(prefix + f.key)}>
      <Input def={f} name={prefix + f.key} value={values[f.key] ?? ''} onChange={(v) => onChange(f.key, v)} datasets={datasets} />
    </Field>
  );
  return (
    <>
      <div class="fields">{fields.filter((f) => !f.advanced).map(render)}</div>
      <details>
        <summary>more settings</summary>
        <div class="fields">{fields.filter((f) => f.advanced).map(render)}</div>
      </details>
    </>
  );
}

export function Field({ name, label, messages, children }: { name: string; label: string; messages?: string[]; children: ComponentChildren }) {
  return (
    <div class={`field${messages?.length ? ' invalid' : ''}`} data-field={name}>
      <label>
        <span class="field-label">{label}</span>
        {children}
      </label>
      {messages?.map((m) => (
        <div class="field-error" key={m} data-field-error={name}>
          {m}
        </div>
      ))}
    </div>
  );
}

function Input({ def, name, value, onChange, datasets }: { def: FieldDef; name: string; value: string; onChange(v: string): void; datasets: DatasetSummary[] }) {
  const set = (e: Event) => onChange((e.target as HTMLInputElement).value);
  if (def.kind === 'select' || def.kind === 'dataset') {
    const options = def.kind === 'dataset' ? datasets.map((d) => d.name) : (def.options ?? []);
    return (
      <select name={name} value={value} onChange={set}>
        <option value="">{def.hint ? `(default: ${def.hint})` : '(choose)'}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  }
  if (def.kind === 'textarea') return <textarea name={name} value={value} onInput={set} rows={3} />;
  if (def.kind === 'axes') {
    const chosen = new Set(value.split(',').filter(Boolean));
    return (
      <span class="checks">
        {(def.options ?? []).map((a) => (
          <label key={a}>
            <input
              type="checkbox"
              name={`${name}.${a}`}
              checked={chosen.has(a)}
              onChange={(e) => {
                (e.target as HTMLInputElement).checked ? chosen.add(a) : chosen.delete(a);
                onChange((def.options ?? []).filter((o) => chosen.has(o)).join(','));
              }}
            />
            {a}
          </label>
        ))}
      </span>
    );
  }
  // Numbers are typed as text so the API sees (and names) whatever was typed.
  return <input name={name} type="text" inputMode={def.kind === 'text' ? undefined : 'decimal'} value={value} placeholder={def.hint ?? ''} onInput={set} autocomplete="off" />;
}
