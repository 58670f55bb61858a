import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { VariablesService } from './variables.service';

/** Library variable sets; bodies are checked against the schemas of variables.schema.ts. */
@Controller('api/v1/variable-sets')
export class VariableSetsController {
  constructor(private readonly variables: VariablesService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.variables.listSets(actor);
  }

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: unknown) {
    return this.variables.createSet(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.variables.getSet(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.variables.updateSet(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.variables.deleteSet(actor, id);
  }

  @Get(':id/variables')
  @RequireRole('viewer')
  async getVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    await this.variables.requireSet(actor.organizationId, id);
    return this.variables.view(actor.organizationId, { kind: 'set', id });
  }

  @Put(':id/variables')
  @RequireRole('admin')
  putVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.variables.putSetVariables(actor, id, body);
  }
}
