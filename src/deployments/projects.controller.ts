import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put, Query } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateProjectDto, UpdateProjectDto, VariablesPreviewQuery } from './dto/project.dto';
import { ProjectsService } from './projects.service';

@Controller('api/v1/projects')
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.projects.list(actor);
  }

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: CreateProjectDto) {
    return this.projects.create(actor, body);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateProjectDto) {
    return this.projects.update(actor, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.delete(actor, id);
  }

  @Get(':id/variables')
  @RequireRole('viewer')
  getVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.getVariables(actor, id);
  }

  /** The whole list of the project's variables; checked against variables.schema.ts. */
  @Put(':id/variables')
  @RequireRole('admin')
  putVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.projects.putVariables(actor, id, body);
  }

  /** What a step would see in an environment, on an agent: each value and the scope it came from. */
  @Get(':id/variables/preview')
  @RequireRole('viewer')
  previewVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Query() query: VariablesPreviewQuery) {
    return this.projects.previewVariables(actor, id, query);
  }

  @Get(':id/process')
  @RequireRole('viewer')
  getProcess(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.projects.getProcess(actor, id);
  }

  /** The body is validated against the step schemas (ProcessInputSchema), one per step kind. */
  @Put(':id/process')
  @RequireRole('admin')
  putProcess(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.projects.putProcess(actor, id, body);
  }
}
