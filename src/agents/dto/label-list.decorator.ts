import { applyDecorators } from '@nestjs/common';
import { ArrayMaxSize, IsArray, IsOptional, Matches } from 'class-validator';

/** An optional list of environment or role labels, as tokens and approvals carry them. */
export function LabelList(what: 'environment' | 'role') {
  return applyDecorators(
    IsOptional(),
    IsArray({ message: `${what}s must be a list` }),
    ArrayMaxSize(50),
    Matches(/^[\w.:-]{1,64}$/, { each: true, message: `each ${what} must be 1-64 letters, digits, ".", "_", ":" or "-"` }),
  );
}
