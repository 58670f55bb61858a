import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateLifecycleDto, UpdateLifecycleDto } from './dto/lifecycle.dto';
import { LifecycleIdPipe } from './lifecycle-id.pipe';
import { LifecyclesService } from './lifecycles.service';

@Controller('api/v1/lifecycles')
export class LifecyclesController {
  constructor(private readonly lifecycles: LifecyclesService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.lifecycles.list(actor);
  }

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: CreateLifecycleDto) {
    return this.lifecycles.create(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string) {
    return this.lifecycles.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  update(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string, @Body() body: UpdateLifecycleDto) {
    return this.lifecycles.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  delete(@CurrentActor() actor: Actor, @Param('id', LifecycleIdPipe) id: string) {
    return this.lifecycles.delete(actor, id);
  }
}
