import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { type Actor, clientIp } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { LiveConnectionsService, type Release } from '../orgs/live-connections.service';
import { JobLogsRepository, type LogLine } from './job-logs.repository';
import { JobsRepository } from './jobs.repository';
import { isFinishedTask } from './task-states';
import { TasksErrorCode, TasksException } from './tasks.exception';
import { TasksRepository } from './tasks.repository';

// A live follower re-reads on every change notification, and on this timer in case one was lost.
const FOLLOW_RECHECK_MS = 2_000;
const SSE_KEEPALIVE_MS = 15_000;

/** A task's log: all of it at once (text or JSON), or followed live as server-sent events. */
@Injectable()
export class TaskLogsService {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly logs: JobLogsRepository,
    private readonly events: ClusterEventsService,
    private readonly live: LiveConnectionsService,
  ) {}

  async respond(actor: Actor, taskId: string, jobId: string | undefined, req: Request, res: Response) {
    const task = await this.tasks.findInOrganization(actor.organizationId, taskId);
    if (!task) throw new NotFoundException('task', taskId);
    if (jobId) {
      if (!(await this.jobs.isInTask(actor.organizationId, jobId, taskId))) throw new TasksException(TasksErrorCode.JOB_NOT_IN_TASK, `job "${jobId}" is not one of task "${task.name}"'s jobs`);
    }
    const accept = req.headers.accept ?? '';
    if (accept.includes('text/event-stream')) return this.follow(actor.organizationId, taskId, jobId, res, await this.live.open(actor.organizationId, clientIp(req)));
    const lines = await this.read(actor.organizationId, taskId, jobId, new Map());
    if (accept.includes('application/json')) return res.json({ taskId, state: task.state, lines });
    const multiJob = !jobId && new Set(lines.map((l) => l.jobId)).size > 1;
    res.type('text/plain; charset=utf-8').send(lines.map((l) => (multiJob ? prefixLines(`[${l.agentName}] `, l.text) : l.text)).join(''));
  }

  /** Chunks not yet seen, in order; remembers in `seen` what was read. */
  private async read(organizationId: string, taskId: string, jobId: string | undefined, seen: Map<string, number>): Promise<LogLine[]> {
    const rows = await this.logs.readLog(organizationId, taskId, jobId, seen);
    for (const r of rows) seen.set(`${r.jobId}:${r.attempt}`, Math.max(seen.get(`${r.jobId}:${r.attempt}`) ?? -1, r.seq));
    return rows;
  }

  /** Follows until the task ends or the follower leaves; `release` ends its count as a live connection. */
  private follow(organizationId: string, taskId: string, jobId: string | undefined, res: Response, release: Release) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    res.flushHeaders();
    const seen = new Map<string, number>();
    let closed = false;
    let running = false;
    let again = false;

    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const stop = () => {
      if (closed) return;
      closed = true;
      release();
      clearInterval(recheck);
      clearInterval(keepalive);
      this.events.off('task-changed', onChange);
      res.end();
    };
    // One read at a time; a change during a read causes one more. The task's state is read
    // before its log, so the final read after the end cannot miss the last lines.
    const pump = async () => {
      if (running) return void (again = true);
      running = true;
      try {
        do {
          again = false;
          const state = await this.tasks.stateInOrganization(organizationId, taskId);
          for (const line of await this.read(organizationId, taskId, jobId, seen)) if (!closed) send('log', line);
          if (!state || isFinishedTask(state)) {
            if (!closed) send('end', { state: state ?? 'deleted' });
            return stop();
          }
        } while (again && !closed);
      } catch {
        if (!closed) send('error', { message: 'reading the log failed; reconnect to continue' });
        stop();
      } finally {
        running = false;
      }
    };
    const onChange = (e: { taskIds: string[] }) => e.taskIds.includes(taskId) && void pump();
    this.events.on('task-changed', onChange);
    const recheck = setInterval(() => void pump(), FOLLOW_RECHECK_MS);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    res.on('close', stop); // the follower went away
    void pump();
  }
}

function prefixLines(prefix: string, text: string): string {
  return text.replace(/^(?=.)/gm, prefix);
}
