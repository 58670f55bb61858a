import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateReleaseDto } from './dto/release.dto';
import { ReleasesService } from './releases.service';

@Controller('api/v1')
export class ReleasesController {
  constructor(private readonly releases: ReleasesService) {}

  @Get('projects/:id/releases')
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) projectId: string) {
    return this.releases.list(actor, projectId);
  }

  @Post('projects/:id/releases')
  @RequireRole('operator')
  create(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) projectId: string, @Body() body: CreateReleaseDto) {
    return this.releases.create(actor, projectId, body);
  }

  /** Re-takes the snapshot of the project's variables (and its sets'); the process snapshot stays. */
  @Post('releases/:id/update-variables')
  @HttpCode(200)
  @RequireRole('operator')
  updateVariables(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.releases.updateVariables(actor, id);
  }

  @Get('releases/:id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.releases.get(actor, id);
  }
}
