import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateLifecycleDto, UpdateLifecycleDto } from './dto/lifecycle.dto';
import { LifecycleIdPipe } from './lifecycle-id.pipe';
import { LifecyclesService } from './lifecycles.service';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { LifecycleSchema } from './deployments.responses';

@Controller('api/v1/lifecycles')
export class LifecyclesController {
  constructor(private readonly lifecycles: LifecyclesService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List lifecycles' })
  @Responds(200, z.array(LifecycleSchema))
  list(@CurrentActor() actor: Actor) {
    return this.lifecycles.list(actor);
  }

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create a lifecycle' })
  @Responds(201, LifecycleSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateLifecycleDto) {
    return this.lifecycles.create(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a lifecycle', description: 'By id, or "default".' })
  @Responds(200, LifecycleSchema)
  get(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string) {
    return this.lifecycles.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Change a lifecycle' })
  @Responds(200, LifecycleSchema)
  update(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string, @Body() body: UpdateLifecycleDto) {
    return this.lifecycles.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Delete a lifecycle' })
  @RespondsEmpty()
  delete(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string) {
    return this.lifecycles.delete(actor, id);
  }
}
