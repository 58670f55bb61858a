import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ValidateIf } from 'class-validator';
import type { z } from 'zod';
import { DomainException } from './domain.exception';

export interface FieldProblem {
  field: string;
  problems: string[];
}

function flatten(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, problems: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Validates bodies, queries and params against their DTOs; a failure names every bad field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const details = flatten(errors).map((d) => (d.problems.some((p) => p.includes('should not exist')) ? { field: d.field, problems: [`${d.field} is not a known field; remove it`] } : d));
      return new DomainException('VALIDATION_FAILED', details.map((d) => d.problems.join(', ')).join('; '), undefined, details);
    },
  });
}

/** Validates with a zod schema; failures name each bad field, like every other 422. */
export function parseOrReject<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details = result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', problems: [i.message] }));
  throw new DomainException('VALIDATION_FAILED', details.map((d) => `${d.field}: ${d.problems[0]}`).join('; '), 422, details);
}

/**
 * Like @IsOptional(), but for a field left out only: `null` is a value, and gets the field's own
 * checks (so `"name": null` in a PATCH is a 422 naming the field, not a null the service must
 * expect). @IsOptional() skips the checks for null too.
 */
export const OptionalNotNull = () => ValidateIf((_object: object, value: unknown) => value !== undefined);
