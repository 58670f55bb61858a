import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { DeploymentsService } from './deployments.service';
import { AnswerInterruptionDto, CreateDeploymentDto, ListDeploymentsQuery } from './dto/deployment.dto';

@Controller('api/v1')
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post('releases/:id/deployments')
  @RequireRole('operator')
  create(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) releaseId: string, @Body() body: CreateDeploymentDto) {
    return this.deployments.create(actor, releaseId, body);
  }

  /** What a deployment would do there, and whether it may: nothing is changed. */
  @Post('releases/:id/deployments/preview')
  @HttpCode(200)
  @RequireRole('viewer')
  preview(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) releaseId: string, @Body() body: CreateDeploymentDto) {
    return this.deployments.preview(actor, releaseId, body);
  }

  @Get('deployments')
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor, @Query() query: ListDeploymentsQuery) {
    return this.deployments.list(actor, query);
  }

  @Get('deployments/:id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.deployments.get(actor, id);
  }

  @Get('deployments/:id/log')
  @RequireRole('viewer')
  log(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Req() req: Request, @Res() res: Response) {
    return this.deployments.log(actor, id, req, res);
  }

  @Post('deployments/:id/cancel')
  @HttpCode(200)
  @RequireRole('operator')
  cancel(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.deployments.cancel(actor, id);
  }

  /** The least role here is the least any interruption takes; each names its own, checked when answered. */
  @Post('interruptions/:id')
  @HttpCode(200)
  @RequireRole('operator')
  answer(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: AnswerInterruptionDto) {
    return this.deployments.answer(actor, id, body);
  }

  @Get('dashboard')
  @RequireRole('viewer')
  dashboard(@CurrentActor() actor: Actor) {
    return this.deployments.dashboard(actor);
  }
}
