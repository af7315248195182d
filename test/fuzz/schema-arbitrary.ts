// fast-check arbitraries derived from TypeBox (JSON) schemas: values the schema accepts, biased to
// its boundaries, and mutations it must refuse, each with the JSON pointer of the field it breaks.
import fc from 'fast-check';
import type { TSchema } from 'typebox';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Node {
  type?: string;
  enum?: unknown[];
  anyOf?: Node[];
  const?: unknown;
  properties?: Record<string, Node>;
  required?: string[];
  minProperties?: number;
  maxProperties?: number;
  additionalProperties?: boolean | Node;
  /** An array of schemas is a tuple (TypeBox's `Type.Tuple`). */
  items?: Node | Node[];
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
}

/** A value the schema refuses, and the pointer of the field a good error message names. */
export interface Mutation {
  value: unknown;
  /** JSON pointer (`/grid/lr`), '' for the whole value. */
  field: string;
  what: string;
}

const node = (s: TSchema | Node) => s as Node;

function integerRange(n: Node): [number, number] {
  const lo = n.minimum ?? (n.exclusiveMinimum !== undefined ? Math.floor(n.exclusiveMinimum) + 1 : -1_000_000);
  const hi = n.maximum ?? (n.exclusiveMaximum !== undefined ? Math.ceil(n.exclusiveMaximum) - 1 : 1_000_000);
  return [lo, hi];
}

/** Values the schema accepts; integers and lengths include their exact bounds. */
export function valid(schema: TSchema | Node): fc.Arbitrary<unknown> {
  const n = node(schema);
  if (n.const !== undefined) return fc.constant(n.const);
  if (n.enum) return fc.constantFrom(...n.enum);
  if (n.anyOf) return fc.oneof(...n.anyOf.map(valid));
  switch (n.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const [lo, hi] = integerRange(n);
      const step = n.multipleOf ?? 1;
      const first = Math.ceil(lo / step);
      const last = Math.floor(hi / step);
      return fc.oneof(fc.constant(first * step), fc.constant(last * step), fc.integer({ min: first, max: last }).map((k) => k * step));
    }
    case 'number': {
      const lo = n.minimum ?? n.exclusiveMinimum ?? -1e6;
      const hi = n.maximum ?? n.exclusiveMaximum ?? 1e6;
      const open = n.exclusiveMinimum !== undefined;
      const inner = fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true, minExcluded: open, maxExcluded: n.exclusiveMaximum !== undefined });
      const bounds = [...(open ? [] : [lo]), ...(n.exclusiveMaximum !== undefined ? [] : [hi])];
      return bounds.length ? fc.oneof(inner, fc.constantFrom(...bounds)) : inner;
    }
    case 'string': {
      if (n.format === 'uuid') return fc.uuid();
      if (n.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      const minLength = n.minLength ?? 0;
      const maxLength = Math.min(n.maxLength ?? 40, 40);
      const base = n.pattern ? fc.stringMatching(new RegExp(n.pattern)) : fc.string({ minLength, maxLength });
      return base.filter((s) => s.length >= minLength && s.length <= (n.maxLength ?? Infinity));
    }
    case 'array': {
      if (Array.isArray(n.items)) return fc.tuple(...n.items.map(valid));
      const items = valid(n.items ?? {});
      const minLength = n.minItems ?? 0;
      const maxLength = Math.min(n.maxItems ?? 5, 5);
      return n.uniqueItems || (n.items as Node | undefined)?.type === 'array'
        ? fc.uniqueArray(items, { minLength, maxLength: Math.max(minLength, maxLength), selector: (v) => JSON.stringify(v) })
        : fc.array(items, { minLength, maxLength: Math.max(minLength, maxLength) });
    }
    case 'object': {
      const props = n.properties ?? {};
      const required = new Set(n.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = valid(v);
      // Fields the schema fills with a default may be left out, like the optional ones.
      const requiredKeys = Object.keys(props).filter((k) => required.has(k) && props[k].default === undefined);
      // A bound on the number of properties (a distribution is exactly one of its kinds): pick which
      // optional ones appear, then build the record from those.
      if (n.minProperties !== undefined || n.maxProperties !== undefined) {
        const optional = Object.keys(props).filter((k) => !requiredKeys.includes(k));
        const min = Math.max(0, (n.minProperties ?? 0) - requiredKeys.length);
        const max = Math.max(min, (n.maxProperties ?? Infinity) - requiredKeys.length);
        return fc
          .subarray(optional, { minLength: Math.min(min, optional.length), maxLength: Math.min(max, optional.length) })
          .chain((keys) => fc.record(Object.fromEntries([...requiredKeys, ...keys].map((k) => [k, record[k]])), { requiredKeys: [...requiredKeys, ...keys] }));
      }
      return fc.record(record, { requiredKeys });
    }
    default:
      return fc.constant({});
  }
}

const HUGE = 'x'.repeat(300_000);
const wrongTypes = (n: Node): unknown[] => {
  const all: unknown[] = [null, true, 'text', 17, 2.5, [], {}];
  const accepts = (v: unknown) => {
    const t = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'boolean' : typeof v === 'string' ? 'string' : Number.isInteger(v) ? 'integer' : 'number';
    const types = n.anyOf ? n.anyOf.map((a) => a.type) : [n.type];
    return types.includes(t) || (t === 'integer' && types.includes('number'));
  };
  return n.enum || n.const !== undefined ? all.filter((v) => typeof v !== 'string') : all.filter((v) => !accepts(v));
};

/** Values this node itself refuses (not its children): out of range, wrong type, too long, ... */
function ownMutations(n: Node): { value: unknown; what: string }[] {
  const out: { value: unknown; what: string }[] = wrongTypes(n).map((value) => ({ value, what: `wrong type ${JSON.stringify(value)}` }));
  if (n.enum) out.push({ value: 'not-one-of-them', what: 'not in the enum' }, { value: '', what: 'empty enum value' });
  if (n.type === 'integer' || n.type === 'number') {
    const [lo, hi] = integerRange(n);
    if (n.minimum !== undefined) out.push({ value: n.minimum - (n.type === 'integer' ? 1 : 1e-9), what: 'below the minimum' }, { value: -1e308, what: 'hugely negative' });
    if (n.exclusiveMinimum !== undefined) out.push({ value: n.exclusiveMinimum, what: 'at the exclusive minimum' });
    if (n.maximum !== undefined) out.push({ value: n.maximum + (n.type === 'integer' ? 1 : 1e-9), what: 'above the maximum' }, { value: 1e308, what: 'hugely positive' });
    if (n.type === 'integer' && lo < hi) out.push({ value: lo + 0.5, what: 'fractional' });
    if (n.multipleOf) out.push({ value: lo + 1, what: 'not a multiple' });
  }
  if (n.type === 'string' && !n.format) {
    if ((n.minLength ?? 0) > 0) out.push({ value: '', what: 'empty string' });
    if (n.maxLength !== undefined) out.push({ value: 'y'.repeat(n.maxLength + 1), what: 'one too long' }, { value: HUGE, what: 'huge string' });
    if (n.pattern) out.push({ value: '../etc/passwd', what: 'breaks the pattern' }, { value: ' leading space', what: 'breaks the pattern' });
  }
  if (n.type === 'string' && n.format === 'uuid') out.push({ value: 'not-a-uuid', what: 'not a uuid' }, { value: `${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(13)}`, what: 'uuid one digit long' });
  if (n.type === 'array') {
    if ((n.minItems ?? 0) > 0) out.push({ value: [], what: 'empty array' });
    if (n.maxItems !== undefined) out.push({ value: Array.from({ length: n.maxItems + 1 }, (_, i) => i), what: 'too many items' });
    if (n.uniqueItems) out.push({ value: ['xy', 'xy'], what: 'repeated items' });
  }
  if (n.type === 'object' && n.additionalProperties === false) out.push({ value: '__extra__', what: 'extra field' });
  return out;
}

/**
 * Mutations of a valid value: for a node picked at random (the value itself or any field below it),
 * one value that node refuses, with the pointer a message must name.
 */
export function mutations(schema: TSchema | Node, path = ''): fc.Arbitrary<Mutation> {
  const n = node(schema);
  const here = ownMutations(n);
  const own = here.length
    ? fc.constantFrom(...here).chain(({ value, what }) =>
        value === '__extra__'
          ? valid(n).map((v) => ({ value: { ...(v as object), zz_unknown_field: 1 }, field: `${path}/zz_unknown_field`, what }))
          : fc.constant({ value, field: path, what }))
    : null;
  const children: fc.Arbitrary<Mutation>[] = [];
  if (n.type === 'object' && n.properties) {
    const props = n.properties;
    const required = (n.required ?? []).filter((k) => props[k].default === undefined);
    for (const [k, child] of Object.entries(props)) {
      children.push(fc.tuple(valid(n), mutations(child, `${path}/${k}`)).map(([v, m]) => ({ ...m, value: { ...(v as object), [k]: m.value } })));
    }
    for (const k of required) {
      children.push(valid(n).map((v) => {
        const copy = { ...(v as Record<string, unknown>) };
        delete copy[k];
        return { value: copy, field: `${path}/${k}`, what: 'missing required field' };
      }));
    }
  }
  if (n.type === 'array' && n.items && (n.minItems ?? 0) <= 3) {
    const items = Array.isArray(n.items) ? n.items[0] : n.items;
    children.push(fc.tuple(valid(n), mutations(items, `${path}/0`)).map(([v, m]) => {
      const arr = [...(v as unknown[])];
      arr[0] = m.value;
      return { ...m, value: arr, field: `${path}/0` };
    }));
  }
  const all = [...(own ? [own] : []), ...children];
  return all.length === 1 ? all[0] : fc.oneof(...all);
}

export type { Json };
