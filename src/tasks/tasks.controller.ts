import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateTaskDto } from './dto/create-task.dto';
import { ListTasksQuery, TaskLogQuery } from './dto/list-tasks.dto';
import { TaskLogsService } from './task-logs.service';
import { TasksService } from './tasks.service';
import { Responds, RespondsRaw } from '../openapi/openapi.decorators';
import { TaskLogResponses, TaskPageSchema, TaskSchema } from './tasks.responses';

@Controller('api/v1/tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly logs: TaskLogsService,
  ) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({ summary: 'Run a script on agents', description: 'One job per target agent; each must be approved and allow scripts by its local policy.' })
  @Responds(201, TaskSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateTaskDto) {
    return this.tasks.create(actor, body);
  }

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List tasks', description: 'Newest first, a page at a time.' })
  @Responds(200, TaskPageSchema)
  list(@CurrentActor() actor: Actor, @Query() query: ListTasksQuery) {
    return this.tasks.list(actor, query);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get a task' })
  @Responds(200, TaskSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tasks.get(actor, id);
  }

  @Get(':id/log')
  @RequireRole('viewer')
  @ApiOperation({ summary: "A task's output" })
  @RespondsRaw(200, TaskLogResponses, 'The output so far, as text, JSON or a stream of server-sent events (by Accept)')
  log(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Query() query: TaskLogQuery, @Req() req: Request, @Res() res: Response) {
    return this.logs.respond(actor, id, query.jobId, req, res);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Cancel a task', description: 'Jobs not started never will; agents are asked to stop the running ones.' })
  @Responds(200, TaskSchema)
  cancel(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.tasks.cancel(actor, id);
  }
}
