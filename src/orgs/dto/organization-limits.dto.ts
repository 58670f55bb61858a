import { applyDecorators } from '@nestjs/common';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import { LIMITS } from '../organization-limits';

const bounded = (name: keyof typeof LIMITS) => {
  const { min, max } = LIMITS[name];
  const message = `${name} must be a whole number from ${min} to ${max}, or null for the default`;
  return applyDecorators(
    ValidateIf((_o, v) => v !== undefined && v !== null),
    IsInt({ message }),
    Min(min, { message }),
    Max(max, { message }),
  );
};

/** An organisation's own limits: each given one is set, null goes back to the default, the rest stay. */
export class UpdateOrganizationLimitsDto {
  @bounded('queuedTasks')
  queuedTasks?: number | null;

  @bounded('apiRequestsPerSecond')
  apiRequestsPerSecond?: number | null;

  @bounded('logBytesPerJob')
  logBytesPerJob?: number | null;

  @bounded('runningJobs')
  runningJobs?: number | null;

  @bounded('liveConnections')
  liveConnections?: number | null;
}
