import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateEnvironmentDto, OrderEnvironmentsDto, UpdateEnvironmentDto } from './dto/environment.dto';
import { EnvironmentsService } from './environments.service';

@Controller('api/v1/environments')
export class EnvironmentsController {
  constructor(private readonly environments: EnvironmentsService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.environments.list(actor);
  }

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: CreateEnvironmentDto) {
    return this.environments.create(actor, body);
  }

  @Post('order')
  @HttpCode(200)
  @RequireRole('admin')
  order(@CurrentActor() actor: Actor, @Body() body: OrderEnvironmentsDto) {
    return this.environments.order(actor, body.ids);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.environments.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateEnvironmentDto) {
    return this.environments.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.environments.delete(actor, id);
  }
}
