import { z } from 'zod';
import { zodToOpenApi } from './json-schema';

describe('zodToOpenApi', () => {
  it('says null and dates as JSON Schema 2020-12 does, and what JSON makes of a Date', () => {
    const { schema } = zodToOpenApi(z.object({ at: z.date().nullable(), name: z.string().optional() }), 'output');
    expect(schema).toEqual({ type: 'object', properties: { at: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] }, name: { type: 'string' } }, required: ['at'] });
  });

  it('makes named schemas components and refers to them, nested ones too', () => {
    const Job = z.object({ id: z.string() }).meta({ id: 'SpecJob' });
    const Task = z.object({ jobs: z.array(Job) }).meta({ id: 'SpecTask' });
    const { schema, components } = zodToOpenApi(z.array(Task), 'output');
    expect(schema).toEqual({ type: 'array', items: { $ref: '#/components/schemas/SpecTask' } });
    expect(components).toEqual({
      SpecTask: { type: 'object', properties: { jobs: { type: 'array', items: { $ref: '#/components/schemas/SpecJob' } } }, required: ['jobs'] },
      SpecJob: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    });
    expect(zodToOpenApi(Task, 'output').schema).toEqual({ $ref: '#/components/schemas/SpecTask' });
  });

  it('leaves answers open to new fields but keeps a strict body strict', () => {
    const strict = z.object({ a: z.string() }).strict();
    expect(zodToOpenApi(strict, 'output').schema).not.toHaveProperty('additionalProperties');
    expect(zodToOpenApi(strict, 'input').schema).toMatchObject({ additionalProperties: false });
  });

  it('spells out the keys of a record over an enum', () => {
    const { schema } = zodToOpenApi(z.record(z.enum(['a', 'b']), z.number()), 'output');
    expect(schema).toEqual({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] });
  });

  it('refuses what JSON cannot carry rather than describing it as anything', () => {
    expect(() => zodToOpenApi(z.object({ n: z.bigint() }), 'output')).toThrow();
  });
});
