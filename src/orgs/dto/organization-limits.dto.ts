import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import { LIMITS } from '../organization-limits';

const bounded = (name: keyof typeof LIMITS) => {
  const { min, max } = LIMITS[name];
  const message = `${name} must be a whole number from ${min} to ${max}, or null for the default`;
  return [ValidateIf((_o, v) => v !== undefined && v !== null), IsInt({ message }), Min(min, { message }), Max(max, { message })];
};
const apply =
  (decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) => {
    for (const d of decorators) d(target, key);
  };

/** An organisation's own limits: each given one is set, null goes back to the default, the rest stay. */
export class UpdateOrganizationLimitsDto {
  @apply(bounded('queuedTasks'))
  queuedTasks?: number | null;

  @apply(bounded('apiRequestsPerSecond'))
  apiRequestsPerSecond?: number | null;

  @apply(bounded('logBytesPerJob'))
  logBytesPerJob?: number | null;
}
