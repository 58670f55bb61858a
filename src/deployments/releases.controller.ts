import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateReleaseDto, ListReleasesQuery } from './dto/release.dto';
import { ReleasesService } from './releases.service';
import { Responds } from '../openapi/openapi.decorators';
import { NewReleaseSchema, ReleaseSchema, ReleaseSummarySchema, ReleaseVariablesSchema } from './deployments.responses';

@Controller('api/v1')
export class ReleasesController {
  constructor(private readonly releases: ReleasesService) {}

  @Get('projects/:id/releases')
  @RequireRole('viewer')
  @ApiOperation({ summary: "List a project's releases", description: 'Newest first, the latest 200; `version` finds one release however old.' })
  @Responds(200, z.array(ReleaseSummarySchema))
  list(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) projectId: string, @Query() query: ListReleasesQuery) {
    return this.releases.list(actor, projectId, query.version);
  }

  @Post('projects/:id/releases')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Create a release', description: "Snapshots the project's process and variables." })
  @Responds(201, NewReleaseSchema)
  create(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) projectId: string, @Body() body: CreateReleaseDto) {
    return this.releases.create(actor, projectId, body);
  }

  /** Re-takes the snapshot of the project's variables (and its sets'); the process snapshot stays. */
  @Post('releases/:id/update-variables')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: "Re-take a release's variables", description: "Snapshots the project's variables again; the process snapshot stays." })
  @Responds(200, ReleaseVariablesSchema)
  updateVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.releases.updateVariables(actor, id);
  }

  @Get('releases/:id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a release', description: 'With its snapshot, where it has been deployed, and where its lifecycle lets it go now.' })
  @Responds(200, ReleaseSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.releases.get(actor, id);
  }
}
