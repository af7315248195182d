import { Compile } from 'typebox/compile';
import type { TSchema, Static } from 'typebox';
import { Value } from 'typebox/value';

/** One problem with an input, named by its JSON path (e.g. `/epochs`). */
export interface FieldIssue {
  field: string;
  message: string;
}

export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly issues: FieldIssue[],
  ) {
    super(`${what} is invalid: ${issues.map((i) => `${i.field || '(root)'} ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}

function fieldOf(e: { instancePath: string; keyword: string; params: Record<string, unknown> }): string {
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params.additionalProperties as string[] | undefined) ?? [];
    return extra.map((k) => `${e.instancePath}/${k}`).join(', ');
  }
  if (e.keyword === 'required') {
    const missing = (e.params.requiredProperties as string[] | undefined) ?? [];
    return missing.map((k) => `${e.instancePath}/${k}`).join(', ') || e.instancePath;
  }
  return e.instancePath;
}

/**
 * A compiled schema that fills defaults and reports every bad field, used at each boundary
 * (HTTP, queue, worker) so the same rules hold everywhere.
 */
export class Validator<T extends TSchema> {
  private readonly compiled;
  constructor(
    readonly what: string,
    readonly schema: T,
  ) {
    this.compiled = Compile(schema);
  }

  issues(value: unknown): FieldIssue[] {
    const out: FieldIssue[] = [];
    for (const e of this.compiled.Errors(value)) {
      // The schema-is-false error duplicates the additionalProperties one.
      if (e.keyword === 'boolean') continue;
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
      const message = e.keyword === 'enum' && allowed ? `must be one of ${allowed.join(', ')}` : e.message;
      const issue = { field: fieldOf(e as never), message };
      if (!out.some((o) => o.field === issue.field && o.message === issue.message)) out.push(issue);
    }
    return out;
  }

  /** Returns the value with defaults applied, or throws a ValidationError naming each bad field. */
  parse(value: unknown): Static<T> {
    const withDefaults = Value.Default(this.schema, structuredClone(value));
    const issues = this.issues(withDefaults);
    if (issues.length) throw new ValidationError(this.what, issues);
    return withDefaults as Static<T>;
  }
}
