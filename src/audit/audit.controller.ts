import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AuditService } from './audit.service';
import { ListAuditEventsQuery } from './dto/list-audit-events.dto';
import { Responds } from '../openapi/openapi.decorators';
import { AuditPageSchema } from './audit.responses';

@Controller('api/v1/audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @RequireRole('admin')
  @ApiOperation({ summary: 'List audit events', description: 'Newest first, a page at a time.' })
  @Responds(200, AuditPageSchema)
  async list(@CurrentActor() actor: Actor, @Query() query: ListAuditEventsQuery) {
    const limit = query.limit ?? 50;
    const items = await this.audit.list(actor, limit, query.before, query.action, query.targetId);
    return { items, nextBefore: items.length === limit ? items[items.length - 1].id : null };
  }
}
