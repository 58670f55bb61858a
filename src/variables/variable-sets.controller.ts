import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { VariablesService } from './variables.service';
import { BodySchema, Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { VariableSchema, VariableSetSchema, VariableSetWithVariablesSchema } from './variables.responses';
import { VariableSetInputSchema, VariableSetUpdateSchema, VariablesInputSchema } from './variables.schema';

/** Library variable sets; bodies are checked against the schemas of variables.schema.ts. */
@Controller('api/v1/variable-sets')
export class VariableSetsController {
  constructor(private readonly variables: VariablesService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List variable sets' })
  @Responds(200, z.array(VariableSetSchema))
  list(@CurrentActor() actor: Actor) {
    return this.variables.listSets(actor);
  }

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create a variable set' })
  @BodySchema(VariableSetInputSchema)
  @Responds(201, VariableSetSchema)
  create(@CurrentActor() actor: Actor, @Body() body: unknown) {
    return this.variables.createSet(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a variable set' })
  @Responds(200, VariableSetWithVariablesSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.variables.getSet(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Change a variable set' })
  @BodySchema(VariableSetUpdateSchema)
  @Responds(200, VariableSetSchema)
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.variables.updateSet(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Delete a variable set', description: 'Refused while a project includes it.' })
  @RespondsEmpty()
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.variables.deleteSet(actor, id);
  }

  @Get(':id/variables')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A variable set's variables" })
  @Responds(200, z.array(VariableSchema))
  async getVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    await this.variables.requireSet(actor.organizationId, id);
    return this.variables.view(actor.organizationId, { kind: 'set', id });
  }

  @Put(':id/variables')
  @RequireRole('admin')
  @ApiOperation({ summary: "Replace a variable set's variables", description: 'The whole list, as for a project.' })
  @BodySchema(VariablesInputSchema)
  @Responds(200, z.array(VariableSchema))
  putVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.variables.putSetVariables(actor, id, body);
  }
}
