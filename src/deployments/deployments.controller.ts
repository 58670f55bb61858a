import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { DeploymentsService } from './deployments.service';
import { AnswerInterruptionDto, CreateDeploymentDto, ListDeploymentsQuery } from './dto/deployment.dto';
import { Responds, RespondsRaw } from '../openapi/openapi.decorators';
import { DashboardSchema, DeploymentLogResponses, DeploymentPreviewSchema, DeploymentSchema, DeploymentSummarySchema } from './deployments.responses';

@Controller('api/v1')
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post('releases/:id/deployments')
  @RequireRole('operator')
  @ApiOperation({ summary: 'Deploy a release' })
  @Responds(201, DeploymentSchema)
  create(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) releaseId: string, @Body() body: CreateDeploymentDto) {
    return this.deployments.create(actor, releaseId, body);
  }

  /** What a deployment would do there, and whether it may: nothing is changed. */
  @Post('releases/:id/deployments/preview')
  @HttpCode(200)
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Preview a deployment', description: 'What deploying the release there would do, and whether it may; nothing is changed.' })
  @Responds(200, DeploymentPreviewSchema)
  preview(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) releaseId: string, @Body() body: CreateDeploymentDto) {
    return this.deployments.preview(actor, releaseId, body);
  }

  @Get('deployments')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List deployments', description: 'Newest first.' })
  @Responds(200, z.array(DeploymentSummarySchema))
  list(@CurrentActor() actor: Actor, @Query() query: ListDeploymentsQuery) {
    return this.deployments.list(actor, query);
  }

  @Get('deployments/:id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a deployment', description: "With its steps, each agent's job, its interruptions and what it waits for." })
  @Responds(200, DeploymentSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.deployments.get(actor, id);
  }

  @Get('deployments/:id/log')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A deployment's output" })
  @RespondsRaw(200, DeploymentLogResponses, 'The output by step and agent, as text or JSON, or a stream of server-sent events (by Accept)')
  log(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Req() req: Request, @Res() res: Response) {
    return this.deployments.log(actor, id, req, res);
  }

  @Post('deployments/:id/cancel')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Cancel a deployment', description: 'Running jobs are told to stop; later steps never start.' })
  @Responds(200, DeploymentSchema)
  cancel(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.deployments.cancel(actor, id);
  }

  /** The least role here is the least any interruption takes; each names its own, checked when answered. */
  @Post('interruptions/:id')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Answer an interruption', description: 'A manual step or a guided failure; each interruption names the role that may answer it.' })
  @Responds(200, DeploymentSchema)
  answer(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: AnswerInterruptionDto) {
    return this.deployments.answer(actor, id, body);
  }

  @Get('dashboard')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The dashboard', description: 'Every project × environment: its latest deployment.' })
  @Responds(200, DashboardSchema)
  dashboard(@CurrentActor() actor: Actor) {
    return this.deployments.dashboard(actor);
  }
}
