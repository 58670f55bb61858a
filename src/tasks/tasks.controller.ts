import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateTaskDto } from './dto/create-task.dto';
import { ListTasksQuery, TaskLogQuery } from './dto/list-tasks.dto';
import { TaskLogsService } from './task-logs.service';
import { TasksService } from './tasks.service';

@Controller('api/v1/tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly logs: TaskLogsService,
  ) {}

  @Post()
  @RequireRole('operator')
  create(@CurrentActor() actor: Actor, @Body() body: CreateTaskDto) {
    return this.tasks.create(actor, body);
  }

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor, @Query() query: ListTasksQuery) {
    return this.tasks.list(actor, query);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tasks.get(actor, id);
  }

  @Get(':id/log')
  @RequireRole('viewer')
  log(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Query() query: TaskLogQuery, @Req() req: Request, @Res() res: Response) {
    return this.logs.respond(actor, id, query.jobId, req, res);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireRole('operator')
  cancel(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tasks.cancel(actor, id);
  }
}
