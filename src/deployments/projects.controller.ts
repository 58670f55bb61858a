import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateProjectDto, UpdateProjectDto, VariablesPreviewQuery } from './dto/project.dto';
import { ProjectsService } from './projects.service';
import { BodySchema, Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { VariablesInputSchema } from '../variables/variables.schema';
import { VariableSchema } from '../variables/variables.responses';
import { ProcessSchema, ProjectSchema, VariablesPreviewSchema } from './deployments.responses';
import { ProcessInputSchema } from './process.schema';

@Controller('api/v1/projects')
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List projects' })
  @Responds(200, z.array(ProjectSchema))
  list(@CurrentActor() actor: Actor) {
    return this.projects.list(actor);
  }

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Create a project' })
  @Responds(201, ProjectSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateProjectDto) {
    return this.projects.create(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a project' })
  @Responds(200, ProjectSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Change a project' })
  @Responds(200, ProjectSchema)
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateProjectDto) {
    return this.projects.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Delete a project' })
  @RespondsEmpty()
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.delete(actor, id);
  }

  @Get(':id/variables')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A project's variables" })
  @Responds(200, z.array(VariableSchema))
  getVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.getVariables(actor, id);
  }

  /** The whole list of the project's variables; checked against variables.schema.ts. */
  @Put(':id/variables')
  @RequireRole('admin')
  @ApiOperation({ summary: "Replace a project's variables", description: 'The whole list: values left out are deleted; a sensitive value sent without `value` keeps the one it had.' })
  @BodySchema(VariablesInputSchema)
  @Responds(200, z.array(VariableSchema))
  putVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.projects.putVariables(actor, id, body);
  }

  /** What a step would see in an environment, on an agent: each value and the scope it came from. */
  @Get(':id/variables/preview')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'What a step would see', description: 'Each value a step would get in an environment, on an agent, and the scope it came from; sensitive ones as ***.' })
  @Responds(200, VariablesPreviewSchema)
  previewVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Query() query: VariablesPreviewQuery) {
    return this.projects.previewVariables(actor, id, query);
  }

  @Get(':id/process')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A project's process" })
  @Responds(200, ProcessSchema)
  getProcess(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.getProcess(actor, id);
  }

  /** The body is validated against the step schemas (ProcessInputSchema), one per step kind. */
  @Put(':id/process')
  @RequireRole('admin')
  @ApiOperation({ summary: "Save a project's process", description: 'The steps become the next process version; releases made before keep theirs.' })
  @BodySchema(ProcessInputSchema)
  @Responds(200, ProcessSchema)
  putProcess(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.projects.putProcess(actor, id, body);
  }
}
