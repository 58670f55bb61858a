import { Body, Controller, Get, Param, ParseUUIDPipe, Patch } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequirePlatformOperator, RequireRole } from '../common/actor';
import { UpdateOrganizationLimitsDto } from './dto/organization-limits.dto';
import { OrganizationLimitsService } from './organization-limits.service';
import { Responds } from '../openapi/openapi.decorators';
import { LimitsSchema, OrganizationWithLimitsSchema } from './orgs.responses';

@Controller('api/v1')
export class OrganizationLimitsController {
  constructor(private readonly limits: OrganizationLimitsService) {}

  /** The caller's own organisation's limits: what it may use of this control plane. */
  @Get('organization/limits')
  @RequireRole('viewer')
  @ApiOperation({ summary: "Your organisation's limits" })
  @Responds(200, LimitsSchema)
  own(@CurrentActor() actor: Actor) {
    return this.limits.view(actor.organizationId);
  }

  /** Every organisation and its limits: a platform operator's. */
  @Get('platform/organizations')
  @RequirePlatformOperator()
  @ApiOperation({ summary: 'Every organisation and its limits' })
  @Responds(200, z.array(OrganizationWithLimitsSchema))
  list() {
    return this.limits.list();
  }

  @Patch('platform/organizations/:id/limits')
  @RequirePlatformOperator()
  @ApiOperation({ summary: "Set an organisation's limits", description: 'Each given limit is set; null goes back to the default; the rest stay.' })
  @Responds(200, LimitsSchema)
  change(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateOrganizationLimitsDto) {
    return this.limits.change(actor, id, body);
  }
}
