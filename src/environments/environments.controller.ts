import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateEnvironmentDto, OrderEnvironmentsDto, UpdateEnvironmentDto } from './dto/environment.dto';
import { EnvironmentsService } from './environments.service';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { EnvironmentSchema } from './environments.responses';

@Controller('api/v1/environments')
export class EnvironmentsController {
  constructor(private readonly environments: EnvironmentsService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List environments', description: "In the organisation's order." })
  @Responds(200, z.array(EnvironmentSchema))
  list(@CurrentActor() actor: Actor) {
    return this.environments.list(actor);
  }

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create an environment' })
  @Responds(201, EnvironmentSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateEnvironmentDto) {
    return this.environments.create(actor, body);
  }

  @Post('order')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Order the environments', description: 'Name every environment id, in the order wanted.' })
  @Responds(200, z.array(EnvironmentSchema))
  order(@CurrentActor() actor: Actor, @Body() body: OrderEnvironmentsDto) {
    return this.environments.order(actor, body.ids);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get an environment' })
  @Responds(200, EnvironmentSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.environments.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Change an environment' })
  @Responds(200, EnvironmentSchema)
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateEnvironmentDto) {
    return this.environments.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Delete an environment' })
  @RespondsEmpty()
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.environments.delete(actor, id);
  }
}
