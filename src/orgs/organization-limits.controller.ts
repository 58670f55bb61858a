import { Body, Controller, Get, Param, ParseUUIDPipe, Patch } from '@nestjs/common';
import { type Actor, CurrentActor, RequirePlatformOperator, RequireRole } from '../common/actor';
import { UpdateOrganizationLimitsDto } from './dto/organization-limits.dto';
import { OrganizationLimitsService } from './organization-limits.service';

@Controller('api/v1')
export class OrganizationLimitsController {
  constructor(private readonly limits: OrganizationLimitsService) {}

  /** The caller's own organisation's limits: what it may use of this control plane. */
  @Get('organization/limits')
  @RequireRole('viewer')
  own(@CurrentActor() actor: Actor) {
    return this.limits.view(actor.organizationId);
  }

  /** Every organisation and its limits: a platform operator's. */
  @Get('platform/organizations')
  @RequirePlatformOperator()
  list() {
    return this.limits.list();
  }

  @Patch('platform/organizations/:id/limits')
  @RequirePlatformOperator()
  change(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateOrganizationLimitsDto) {
    return this.limits.change(actor, id, body);
  }
}
