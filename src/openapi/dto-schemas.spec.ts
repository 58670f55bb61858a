import { IsInt, IsOptional, IsString, Max, Min, ValidateIf } from 'class-validator';
import { dtoSchemas, referencedComponents, toOpenApi31 } from './dto-schemas';

class SpecLimitsDto {
  @ValidateIf((_o, v) => v !== undefined && v !== null)
  @IsInt()
  @Min(1)
  @Max(10)
  perSecond?: number | null;

  @IsOptional()
  @IsString()
  note?: string;

  // As OptionalNotNull() does (src/common/validation.ts, which needs Nest, which unit tests do not load).
  @ValidateIf((_o, v) => v !== undefined)
  @IsString()
  name?: string;

  @IsString()
  required: string;
}

describe('dtoSchemas', () => {
  const schema = toOpenApi31(dtoSchemas()[SpecLimitsDto.name]);

  it('reads the class-validator rules, with null where a condition lets null through unchecked', () => {
    expect(schema).toEqual({
      type: 'object',
      properties: {
        perSecond: { type: ['integer', 'null'], minimum: 1, maximum: 10 },
        note: { type: ['string', 'null'] },
        name: { type: 'string' },
        required: { type: 'string' },
      },
      required: ['required'],
    });
  });
});

describe('toOpenApi31', () => {
  it('turns nullable into a type with null, or anyOf where there is no type', () => {
    expect(toOpenApi31({ type: 'string', enum: ['a'], nullable: true })).toEqual({ type: ['string', 'null'], enum: ['a', null] });
    expect(toOpenApi31({ $ref: '#/components/schemas/X', nullable: true })).toEqual({ anyOf: [{ $ref: '#/components/schemas/X' }, { type: 'null' }] });
    expect(toOpenApi31({ type: 'object', properties: { nullable: { type: 'boolean' } } })).toEqual({ type: 'object', properties: { nullable: { type: 'boolean' } } });
  });
});

describe('referencedComponents', () => {
  it('follows references through the components', () => {
    const components = { A: { $ref: '#/components/schemas/B' }, B: { items: { $ref: '#/components/schemas/C' } }, C: {}, D: {} };
    expect([...referencedComponents(['A'], components)].sort()).toEqual(['A', 'B', 'C']);
  });
});
