import type { StandardSchemaConversionResult } from '@nestjs/swagger';
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

// What JSON.stringify makes of a Date, which is what a client receives.
const DATE_TIME = { type: 'string', format: 'date-time' } as const;

/**
 * A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect): nullable fields as `anyOf` with
 * `{type: "null"}`, dates as the ISO strings JSON turns them into. Schemas given an id with
 * `.meta({ id })` become named components; the result's schema refers to them.
 */
export function zodToOpenApi(schema: z.ZodType, io: 'input' | 'output'): StandardSchemaConversionResult {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    reused: 'inline',
    cycles: 'ref',
    unrepresentable: (ctx) => (ctx.zodSchema._zod.def.type === 'date' ? DATE_TIME : 'throw'),
    override: ({ jsonSchema: json }) => {
      // An answer may gain fields in a later version without breaking a client that validates it.
      if (io === 'output' && json.additionalProperties === false) delete json.additionalProperties;
      // A record over an enum has exactly those keys: say so as properties, which tools read.
      const keys = (json.propertyNames as { enum?: unknown[] } | undefined)?.enum;
      const values = json.additionalProperties;
      if (keys && typeof values === 'object') {
        json.properties = Object.fromEntries(keys.map((key) => [String(key), values]));
        delete json.propertyNames;
        delete json.additionalProperties;
      }
      // A discriminated union of one (a kind with one variant so far) is that variant.
      if (json.oneOf?.length === 1 && Object.keys(json).length === 1) {
        const [only] = json.oneOf;
        delete json.oneOf;
        Object.assign(json, only);
      }
    },
  }) as JsonSchema;
  // Zod names its definitions under $defs; a document keeps them in components.schemas.
  const { $defs, $schema: _dialect, ...root } = JSON.parse(JSON.stringify(json).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  const components: Record<string, JsonSchema> = { ...($defs ?? {}) };
  const id = z.globalRegistry.get(schema)?.id;
  const ref = { $ref: `#/components/schemas/${id}` };
  // A named root is already a reference to its own definition.
  if (!id || root.$ref === ref.$ref) return { schema: root, components };
  components[id] = root;
  return { schema: ref, components };
}

/** For SwaggerModule.createDocument: every `standardSchema` in a decorator goes through zodToOpenApi. */
export function standardSchemaConverter(schema: unknown, options: { schemaType: 'input' | 'output' }): StandardSchemaConversionResult | undefined {
  return schema instanceof z.ZodType ? zodToOpenApi(schema, options.schemaType) : undefined;
}
