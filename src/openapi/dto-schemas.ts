import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import { MAX, MIN, ValidationTypes } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

type JsonSchema = Record<string, unknown>;

/**
 * JSON schemas of the request DTO classes, read from their class-validator rules: the rules that
 * the ValidationPipe enforces are the schema, so neither can change without the other. (The build
 * is plain tsc, without Nest's swagger plugin; decorating every property with @ApiProperty a second
 * time would be a copy that drifts.) Nested DTOs (@ValidateNested with @Type) are references to
 * their own component. What these schemas say in OpenAPI 3.0 terms (`nullable`) is made 3.1 by
 * toOpenApi31() with the rest of the document.
 */
export function dtoSchemas(): Record<string, JsonSchema> {
  return validationMetadatasToSchemas({
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: '#/components/schemas/',
    additionalConverters: {
      [ValidationTypes.CONDITIONAL_VALIDATION]: (meta: ValidationMetadata) => (skipsNull(meta) ? { nullable: true } : {}),
      // The bounds alone: the type is @IsInt's (or @IsNumber's), which a `type: number` here could override.
      [MIN]: (meta: ValidationMetadata) => ({ minimum: meta.constraints[0] as number }),
      [MAX]: (meta: ValidationMetadata) => ({ maximum: meta.constraints[0] as number }),
    },
  }) as Record<string, JsonSchema>;
}

/**
 * Whether the field's condition (@IsOptional, or a @ValidateIf such as OptionalNotNull) lets null
 * through unchecked, which makes null a value the route accepts. The conditions are predicates
 * over (object, value), so asking one about null is safe.
 */
function skipsNull(meta: ValidationMetadata): boolean {
  const condition = meta.constraints?.[0] as ((object: object, value: unknown) => boolean) | undefined;
  return typeof condition === 'function' && !condition({ [meta.propertyName]: null }, null);
}

/** The names of the components `schema` refers to, directly or through the ones it refers to. */
export function referencedComponents(roots: Iterable<string>, components: Record<string, JsonSchema>): Set<string> {
  const found = new Set<string>();
  const pending = [...roots];
  while (pending.length) {
    const name = pending.pop()!;
    if (found.has(name) || !components[name]) continue;
    found.add(name);
    for (const [, ref] of JSON.stringify(components[name]).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) pending.push(ref);
  }
  return found;
}

/**
 * OpenAPI 3.0's `nullable: true` as 3.1 (JSON Schema 2020-12) says it: "null" among the types, or
 * an `anyOf` with `{type: "null"}` where there is no type of its own (a reference, a union).
 */
export function toOpenApi31(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toOpenApi31);
  if (value === null || typeof value !== 'object') return value;
  const converted = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toOpenApi31(v)])) as JsonSchema;
  // Only the keyword: a property that happens to be called "nullable" is an object.
  if (typeof converted.nullable !== 'boolean') return converted;
  const { nullable, ...rest } = converted;
  if (!nullable) return rest;
  if (typeof rest.type === 'string' || Array.isArray(rest.type)) {
    const types = [rest.type].flat() as string[];
    const withNull = { ...rest, type: types.includes('null') ? types : [...types, 'null'] };
    return Array.isArray(rest.enum) && !rest.enum.includes(null) ? { ...withNull, enum: [...rest.enum, null] } : withNull;
  }
  return { anyOf: [rest, { type: 'null' }] };
}
