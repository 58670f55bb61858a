import { ValidationPipe, type ValidationError } from '@nestjs/common';
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
