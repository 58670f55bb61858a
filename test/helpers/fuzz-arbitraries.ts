import { getMetadataStorage, isEmail } from 'class-validator';
import fc from 'fast-check';
import { z } from 'zod';

// fast-check arbitraries for the verify suite's fuzzer (issue 17): VALID bodies derived from a
// route's own validation schema (a class-validator DTO, or a zod schema), and the mutations that
// turn them into hostile ones. A body is built as a tree whose leaves may be raw JSON text (Raw)
// and whose objects may repeat a key (Dup), so that what JSON.stringify cannot write (1e400, a
// key given twice) can still be sent; `toJson` writes the tree.

/** JSON text inserted as it is: numbers JSON.stringify would not write, or anything else. */
export class Raw {
  constructor(readonly text: string) {}
}
/** An object written with its entries as given, a key possibly more than once. */
export class Dup {
  constructor(readonly entries: [string, unknown][]) {}
}

/** The JSON text of a body tree (Raw and Dup nodes included). */
export function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Dup) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Ids the valid bodies use beside random ones, so a valid body can reach past "no such …". */
export interface IdPool {
  ids: string[];
}

// Longest string a "valid" body carries (a schema's own maximum is also tried, on its own).
const TYPICAL_MAX = 120;

function text(min = 0, max = TYPICAL_MAX): fc.Arbitrary<string> {
  const cap = Math.max(min, Math.min(max, TYPICAL_MAX));
  const arbs: fc.Arbitrary<string>[] = [fc.string({ minLength: min, maxLength: cap }), fc.string({ minLength: min, maxLength: cap, unit: 'grapheme' })];
  // The schema's own limits, exactly.
  if (max !== cap && max <= 300_000) arbs.push(fc.constant('x'.repeat(max)));
  if (min > 0) arbs.push(fc.constant('y'.repeat(min)));
  return fc.oneof(...arbs).filter((s) => s.length >= min && s.length <= max);
}

function uuid(pool: IdPool): fc.Arbitrary<string> {
  return pool.ids.length ? fc.oneof({ arbitrary: fc.constantFrom(...pool.ids), weight: 2 }, { arbitrary: fc.uuid(), weight: 1 }) : fc.uuid();
}

function int(min = -(2 ** 31), max = 2 ** 31 - 1): fc.Arbitrary<number> {
  const lo = Math.max(min, Number.MIN_SAFE_INTEGER);
  const hi = Math.min(max, Number.MAX_SAFE_INTEGER);
  // fc.integer is 32-bit; wider ranges go through bigInt.
  const between = (a: number, b: number) => (a >= -(2 ** 31) && b <= 2 ** 31 - 1 ? fc.integer({ min: a, max: b }) : fc.bigInt({ min: BigInt(a), max: BigInt(b) }).map(Number));
  return fc.oneof(between(lo, Math.min(hi, lo + 100)), fc.constantFrom(lo, hi), between(lo, hi));
}

// ------------------------------------------------------------------------------------------------
// class-validator DTOs
// ------------------------------------------------------------------------------------------------

// class-transformer's @Type() is the only record of a nested DTO's class (design:type says Array
// for a list); it has no public accessor, so its storage is read where the package keeps it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const typeStorage = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: { findTypeMetadata(target: object, property: string): { typeFunction: () => unknown } | undefined } })
  .defaultMetadataStorage;

type Ctor = new (...args: unknown[]) => object;
type ValidationMetadata = ReturnType<ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']>[number];

/** The validation metadata of a DTO class (its own and inherited), by property. */
export function dtoProperties(dto: Ctor): Map<string, ValidationMetadata[]> {
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const m of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    byProperty.set(m.propertyName, [...(byProperty.get(m.propertyName) ?? []), m]);
  }
  return byProperty;
}

/** Whether `value` is a class with class-validator metadata: a DTO. */
export function isDto(value: unknown): value is Ctor {
  return typeof value === 'function' && value !== Object && getMetadataStorage().getTargetValidationMetadatas(value as Ctor, '', true, false).length > 0;
}

function elementFromValidators(ms: ValidationMetadata[], owner: Ctor, property: string, pool: IdPool, depth: number): fc.Arbitrary<unknown> {
  const named = (name: string) => ms.find((m) => m.name === name || m.type === name);
  const isIn = named('isIn');
  if (isIn) return fc.constantFrom(...(isIn.constraints[0] as unknown[]));
  if (named('isUUID')) return uuid(pool);
  if (named('isEmail')) return fc.emailAddress().filter((e) => e.length <= 254 && isEmail(e));
  const matches = named('matches');
  if (matches) {
    const [pattern, modifiers] = matches.constraints as [RegExp | string, string | undefined];
    const regex = typeof pattern === 'string' ? new RegExp(pattern, modifiers) : pattern;
    return fc.stringMatching(regex).filter((s) => regex.test(s));
  }
  if (named('isInt')) return int(named('min')?.constraints[0] as number | undefined, named('max')?.constraints[0] as number | undefined);
  if (named('isBoolean')) return fc.boolean();
  if (named('isObject')) return fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), { maxKeys: 3 });
  if (named('nestedValidation')) {
    const nested = typeStorage.findTypeMetadata(owner, property)?.typeFunction() ?? Reflect.getMetadata('design:type', owner.prototype, property);
    if (isDto(nested) && depth < 5) return dtoArbitrary(nested, pool, depth + 1);
    return fc.constant({});
  }
  const length = named('isLength');
  const min = (length?.constraints[0] as number | undefined) ?? (named('minLength')?.constraints[0] as number | undefined) ?? 0;
  const max = (length?.constraints[1] as number | undefined) ?? (named('maxLength')?.constraints[0] as number | undefined) ?? TYPICAL_MAX;
  return text(min, max);
}

function propertyArbitrary(ms: ValidationMetadata[], owner: Ctor, property: string, pool: IdPool, depth: number): fc.Arbitrary<unknown> {
  const each = ms.filter((m) => m.each);
  const own = ms.filter((m) => !m.each);
  const named = (name: string) => own.find((m) => m.name === name || m.type === name);
  const isList = named('isArray') || each.length > 0 || named('arrayMaxSize') || named('arrayMinSize');
  let arb: fc.Arbitrary<unknown>;
  if (isList) {
    const element = elementFromValidators(each.length ? [...each, ...own.filter((m) => m.type === 'nestedValidation')] : [], owner, property, pool, depth);
    const minLength = (named('arrayMinSize')?.constraints[0] as number | undefined) ?? 0;
    const maxLength = Math.min((named('arrayMaxSize')?.constraints[0] as number | undefined) ?? 5, minLength + 5);
    arb = named('arrayUnique') ? fc.uniqueArray(element, { minLength, maxLength, selector: (v) => JSON.stringify(v) }) : fc.array(element, { minLength, maxLength });
  } else {
    arb = elementFromValidators(own, owner, property, pool, depth);
  }
  // @ValidateIf: when its condition fails for null, null is a valid value too.
  const validateIf = own.find((m) => m.type === 'conditionalValidation' && m.name !== 'isOptional');
  if (validateIf && !(validateIf.constraints[0] as (o: object, v: unknown) => boolean)({}, null)) arb = fc.option(arb, { nil: null, freq: 4 });
  return arb;
}

/** Valid bodies for a class-validator DTO, as its metadata storage describes it. */
export function dtoArbitrary(dto: Ctor, pool: IdPool, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const requiredKeys: string[] = [];
  for (const [property, ms] of dtoProperties(dto)) {
    model[property] = propertyArbitrary(ms, dto, property, pool, depth);
    // Left out may be: @IsOptional(), or a @ValidateIf() that skips an undefined value.
    const optional = ms.some((m) => m.name === 'isOptional' || (m.type === 'conditionalValidation' && !(m.constraints[0] as (o: object, v: unknown) => boolean)({}, undefined)));
    if (!optional) requiredKeys.push(property);
  }
  return fc.record(model, { requiredKeys }) as fc.Arbitrary<Record<string, unknown>>;
}

// ------------------------------------------------------------------------------------------------
// zod schemas (routes that validate `unknown` themselves, and the agent protocol), read through
// their JSON Schema (z.toJSONSchema, as the sender writes them: defaults may be left out)
// ------------------------------------------------------------------------------------------------

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
};

function fromJsonSchema(s: JsonSchema, pool: IdPool, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((a) => fromJsonSchema(a, pool, depth)));
  if (s.allOf?.length) return fromJsonSchema(s.allOf[0], pool, depth);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      if (s.format === 'uuid') return uuid(pool);
      if (s.pattern) {
        const regex = new RegExp(s.pattern);
        return fc.stringMatching(regex).filter((v) => v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity));
      }
      return text(s.minLength ?? 0, s.maxLength ?? TYPICAL_MAX);
    }
    case 'integer':
      return int(s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : undefined), s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : undefined));
    case 'number':
      return fc.double({ min: s.minimum ?? -1e12, max: s.maximum ?? 1e12, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = s.minItems ?? 0;
      return fc.array(s.items && depth < 6 ? fromJsonSchema(s.items, pool, depth + 1) : fc.constant(null), { minLength, maxLength: Math.min(s.maxItems ?? 4, minLength + 4) });
    }
    case 'object': {
      if (s.properties) {
        const model: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, v] of Object.entries(s.properties)) model[k] = depth < 6 ? fromJsonSchema(v, pool, depth + 1) : fc.constant(null);
        return fc.record(model, { requiredKeys: s.required ?? [] });
      }
      const value = typeof s.additionalProperties === 'object' ? fromJsonSchema(s.additionalProperties, pool, depth + 1) : fc.jsonValue({ maxDepth: 1 });
      // A record whose keys are an enum needs every key (zod's exhaustive record).
      if (s.propertyNames?.enum) return fc.record(Object.fromEntries(s.propertyNames.enum.map((k) => [String(k), value])));
      return fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), value, { maxKeys: 3 });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Valid (input) values of a zod schema; its refinements (no NUL, …) are not represented. */
export function zodArbitrary(schema: z.ZodType, pool: IdPool): fc.Arbitrary<unknown> {
  return fromJsonSchema(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema, pool, 0);
}

// ------------------------------------------------------------------------------------------------
// Mutations
// ------------------------------------------------------------------------------------------------

const nest = (depth: number, leaf: string, open: string, close: string) => open.repeat(depth) + leaf + close.repeat(depth);

/** Values no schema accepts in most places: wrong types, limits, text PostgreSQL cannot hold, nesting. */
export const EVIL_VALUES: { name: string; value: unknown }[] = [
  { name: 'null', value: null },
  { name: 'true', value: true },
  { name: 'zero', value: 0 },
  { name: '-1', value: -1 },
  { name: '1.5', value: 1.5 },
  { name: '2^31', value: 2 ** 31 },
  { name: '-2^31-1', value: -(2 ** 31) - 1 },
  { name: '2^53+2', value: 2 ** 53 + 2 },
  { name: '1e21', value: 1e21 },
  { name: '1e308', value: 1e308 },
  { name: '-1e308', value: -1e308 },
  { name: '5e-324', value: 5e-324 },
  { name: '1e400 (Infinity when parsed)', value: new Raw('1e400') },
  { name: '-0', value: new Raw('-0') },
  { name: '40-digit integer', value: new Raw('1234567890123456789012345678901234567890') },
  { name: 'empty string', value: '' },
  { name: 'numeric string', value: '42' },
  { name: 'NUL', value: '\u0000' },
  { name: 'embedded NUL', value: 'a\u0000b' },
  { name: 'lone high surrogate', value: 'x\ud800' },
  { name: 'lone low surrogate', value: '\udfffy' },
  { name: 'unassigned U+0378', value: '\u0378' },
  { name: 'noncharacter U+FFFF', value: '\uffff' },
  { name: 'U+10FFFF', value: '\u{10ffff}' },
  { name: 'private use', value: '\ue000\u{f0000}' },
  { name: 'RTL override', value: '\u202eevil' },
  { name: 'zalgo', value: 'e' + '\u0301'.repeat(5000) },
  { name: 'emoji', value: '👩‍👩‍👧‍👦'.repeat(100) },
  { name: 'SQL-ish', value: "'; DROP TABLE agents; --" },
  { name: 'format string', value: '%s%s%n${7*7}#{x}{{x}}' },
  { name: 'huge string (100k)', value: 'h'.repeat(100_000) },
  { name: 'huge string (700k)', value: 'H'.repeat(700_000) },
  { name: 'huge unicode string', value: '€'.repeat(200_000) },
  { name: 'empty array', value: [] },
  { name: 'empty object', value: {} },
  { name: 'array of null', value: [null] },
  { name: 'array of 20k numbers', value: Array.from({ length: 20_000 }, (_, i) => i) },
  { name: 'array of 5k strings', value: Array.from({ length: 5_000 }, (_, i) => `s${i}`) },
  { name: 'object of 5k keys', value: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i])) },
  { name: 'nested 20', value: new Raw(nest(20, '1', '[', ']')) },
  { name: 'nested 63', value: new Raw(nest(62, '{}', '{"a":', '}')) },
  { name: 'nested 70', value: new Raw(nest(70, 'null', '[', ']')) },
  { name: 'nested 5000', value: new Raw(nest(5000, '0', '{"a":', '}')) },
  { name: '__proto__ object', value: new Raw('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') },
];

const EVIL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', '\u0000', 'a\u0000', '\ud800', 'k'.repeat(10_000), '$where', 'id', 'organizationId'];

/** Every place in a body a mutation may change: its own path, as keys. */
function placesIn(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  out.push(path);
  if (depth > 8 || value === null || typeof value !== 'object' || value instanceof Raw || value instanceof Dup) return out;
  for (const [k, v] of Object.entries(value)) placesIn(v, [...path, Array.isArray(value) ? Number(k) : k], out, depth + 1);
  return out;
}

function clone(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Raw || value instanceof Dup) return value;
  if (Array.isArray(value)) return value.map(clone);
  // Own properties only, even one named __proto__.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: clone(v), enumerable: true, writable: true, configurable: true });
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (!path.length) return value;
  const copy = clone(root);
  let node = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  Object.defineProperty(node, path[path.length - 1], { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function deleteAt(root: unknown, path: (string | number)[]): unknown {
  if (!path.length) return root;
  const copy = clone(root);
  let node = copy as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  if (Array.isArray(node)) node.splice(Number(path[path.length - 1]), 1);
  else delete node[path[path.length - 1]];
  return copy;
}

const objectsIn = (body: unknown) =>
  placesIn(body).filter((p) => {
    let node: unknown = body;
    for (const k of p) node = (node as Record<string | number, unknown>)[k];
    return node !== null && typeof node === 'object' && !Array.isArray(node) && !(node instanceof Raw) && !(node instanceof Dup);
  });

const valueAt = (body: unknown, path: (string | number)[]) => path.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], body);

/** A body as sent: its bytes, with what it is, for the report. */
export interface WireBody {
  label: string;
  text: string | Buffer;
  contentType?: string;
  /** Sent without Content-Length, as chunks. */
  chunked?: boolean;
}

/** Hostile variants of a valid body: one field changed, removed, repeated, or an unknown one added. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<WireBody> {
  return fc.oneof(
    { weight: 2, arbitrary: valid.map((b) => ({ label: 'valid', text: toJson(b) })) },
    {
      weight: 6,
      arbitrary: fc.tuple(valid, fc.nat(), fc.nat({ max: EVIL_VALUES.length - 1 })).map(([b, at, evil]) => {
        const places = placesIn(b);
        const path = places[at % places.length];
        return { label: `${path.join('.') || '(body)'} := ${EVIL_VALUES[evil].name}`, text: toJson(setAt(b, path, EVIL_VALUES[evil].value)) };
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([b, at, other]) => {
        const places = placesIn(b);
        const path = places[at % places.length];
        return { label: `${path.join('.') || '(body)'} := random JSON`, text: toJson(setAt(b, path, other)) };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat()).map(([b, at]) => {
        const places = placesIn(b).filter((p) => p.length);
        const path = places.length ? places[at % places.length] : [];
        return { label: `without ${path.join('.') || '(nothing)'}`, text: toJson(deleteAt(b, path)) };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.nat(), fc.constantFrom(...EVIL_KEYS), fc.nat({ max: EVIL_VALUES.length - 1 })).map(([b, at, key, evil]) => {
        const places = objectsIn(b);
        const path = places.length ? places[at % places.length] : [];
        const target = places.length ? valueAt(b, path) : {};
        const entries: [string, unknown][] = [...Object.entries(target as object), [key, EVIL_VALUES[evil].value]];
        return { label: `unknown key ${JSON.stringify(key.slice(0, 20))} at ${path.join('.') || '(body)'}`, text: toJson(places.length ? setAt(b, path, new Dup(entries)) : new Dup(entries)) };
      }),
    },
    {
      weight: 1,
      // The same key twice, the second with a hostile value (JSON.parse keeps the last one).
      arbitrary: fc.tuple(valid, fc.nat(), fc.nat(), fc.nat({ max: EVIL_VALUES.length - 1 }), fc.boolean()).map(([b, at, which, evil, evilFirst]) => {
        const places = objectsIn(b).filter((p) => Object.keys(valueAt(b, p) as object).length);
        if (!places.length) return { label: 'duplicated key (none to repeat)', text: '{"a":1,"a":2}' };
        const path = places[at % places.length];
        const entries = Object.entries(valueAt(b, path) as object) as [string, unknown][];
        const [key, value] = entries[which % entries.length];
        const pair: [string, unknown][] = evilFirst
          ? [
              [key, EVIL_VALUES[evil].value],
              [key, value],
            ]
          : [
              [key, value],
              [key, EVIL_VALUES[evil].value],
            ];
        const dup = new Dup([...entries.filter(([k]) => k !== key), ...pair]);
        return { label: `duplicated key ${path.concat(key).join('.')} (${evilFirst ? 'hostile first' : 'hostile last'}: ${EVIL_VALUES[evil].name})`, text: toJson(setAt(b, path, dup)) };
      }),
    },
  );
}

const TEN_MB = 10 * 1024 * 1024;

/** Bodies that are not the route's at all: not JSON, not an object, too deep, too big, not UTF-8. */
export const garbageBody: fc.Arbitrary<WireBody> = fc.oneof(
  fc.constantFrom<WireBody>(
    { label: 'empty, as JSON', text: '' },
    { label: 'truncated JSON', text: '{"a":' },
    { label: 'single quotes', text: "{'a':1}" },
    { label: 'trailing comma', text: '[1,]' },
    { label: 'trailing garbage', text: '{}x' },
    { label: 'bare NUL', text: '\u0000' },
    { label: 'JSON with a raw NUL inside a string', text: '{"name":"a\u0000b"}' },
    { label: 'escaped NUL key', text: '{"\\u0000":1}' },
    { label: 'null', text: 'null' },
    { label: 'number', text: '1' },
    { label: 'string', text: '"body"' },
    { label: 'true', text: 'true' },
    { label: 'array', text: '[]' },
    { label: 'array of objects', text: '[{},{}]' },
    { label: 'NaN', text: 'NaN' },
    { label: 'nested arrays 65', text: nest(65, '', '[', ']') },
    { label: 'nested arrays 100k', text: nest(100_000, '', '[', ']') },
    { label: 'nested objects 50k', text: nest(50_000, '1', '{"a":', '}') },
    { label: 'invalid UTF-8', text: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]) },
    { label: 'UTF-16 BOM body', text: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', 'utf16le')]) },
    { label: 'UTF-8 BOM body', text: '\ufeff{}' },
    { label: 'text/plain', text: '{}', contentType: 'text/plain' },
    { label: 'form', text: 'a=1&b=2', contentType: 'application/x-www-form-urlencoded' },
    { label: 'latin1 charset', text: '{}', contentType: 'application/json; charset=latin1' },
    { label: 'utf-16 charset', text: '{}', contentType: 'application/json; charset=utf-16' },
    { label: 'JSON content type with junk', text: '{}', contentType: 'application/json; boundary=";;;' },
    { label: '10 MB body', text: `{"a":"${'x'.repeat(TEN_MB)}"}` },
    { label: '10 MB body, chunked', text: `{"a":"${'x'.repeat(TEN_MB)}"}`, chunked: true },
    { label: '1 MiB + 1 body', text: `{"a":"${'x'.repeat(1024 * 1024 - 7)}"}` },
  ),
  fc.string({ maxLength: 200, unit: 'binary' }).map((s) => ({ label: 'random text', text: s })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ label: 'random JSON', text: JSON.stringify(v) ?? 'null' })),
);

/** A route's bodies: mostly mutations of valid ones, some garbage. */
export function routeBodies(valid: fc.Arbitrary<unknown>): fc.Arbitrary<WireBody> {
  return fc.oneof({ weight: 5, arbitrary: mutated(valid) }, { weight: 1, arbitrary: garbageBody });
}

/** Ids for a :param: the fixture's real ones, random UUIDs, and garbage. */
export function idArbitrary(real: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    ...(real.length ? [{ weight: 4, arbitrary: fc.constantFrom(...real).map(encodeURIComponent) }] : []),
    { weight: 2, arbitrary: fc.uuid() },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'default',
        'null',
        '0',
        '-1',
        '1e400',
        '00000000-0000-0000-0000-000000000000',
        'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
        '%00',
        '%ED%A0%80', // a lone surrogate, UTF-8 encoded
        '%E0%A4%A', // broken percent-encoding
        '%',
        '..%2F..%2Fetc%2Fpasswd',
        '%F4%8F%BF%BF',
        'x'.repeat(5000),
        encodeURIComponent('\u0378\uffff'),
        `${'a'.repeat(8)}-${'b'.repeat(4)}-${'c'.repeat(4)}-${'d'.repeat(4)}-${'e'.repeat(12)}`,
      ),
    },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }).map((s) => encodeURIComponent(s)) },
  );
}

/** A query string built from valid values (as strings), then mutated. */
export function queryArbitrary(valid: fc.Arbitrary<Record<string, unknown>> | undefined): fc.Arbitrary<string> {
  const base = valid ?? fc.constant({});
  const evil = fc.constantFrom('', '%00', '-1', '0', '1e400', '99999999999999999999', 'x'.repeat(3000), '%ED%A0%80', '%E0%A4%A', encodeURIComponent('\u0378'), 'true', 'null', '[]');
  return fc
    .tuple(base, fc.nat({ max: 4 }), evil, fc.constantFrom('limit', 'before', 'state', 'status', '__proto__[x]', 'a[b][c]', 'constructor', 'environment', 'x'), fc.nat())
    .map(([q, kind, value, key, at]) => {
      const pairs: [string, string][] = Object.entries(q).map(([k, v]) => [k, encodeURIComponent(String(v))]);
      if (kind === 1 && pairs.length) pairs[at % pairs.length][1] = value;
      else if (kind === 2) pairs.push([key, value]);
      else if (kind === 3 && pairs.length)
        pairs.push([pairs[at % pairs.length][0], value]); // repeated: an array
      else if (kind === 4) pairs.push([`${key}[]`, value]);
      return pairs.length ? `?${pairs.map(([k, v]) => `${k.includes('[') ? k : encodeURIComponent(k)}=${v}`).join('&')}` : '';
    });
}
