import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DataSource } from 'typeorm';
import { ClusterEventsService } from '../agents/cluster-events.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import type { LogStream } from '../protocol/messages';
import { isFinishedTask, type TaskState } from './task-states';
import { TasksErrorCode, TasksException } from './tasks.exception';
import { TasksRepository } from './tasks.repository';

export interface LogLine {
  jobId: string;
  agentName: string;
  attempt: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: Date;
}

// A live follower re-reads on every change notification, and on this timer in case one was lost.
const FOLLOW_RECHECK_MS = 2_000;
const SSE_KEEPALIVE_MS = 15_000;

/** A task's log: all of it at once (text or JSON), or followed live as server-sent events. */
@Injectable()
export class TaskLogsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly events: ClusterEventsService,
  ) {}

  async respond(actor: Actor, taskId: string, jobId: string | undefined, req: Request, res: Response) {
    const task = await this.tasks.findInOrganization(actor.organizationId, taskId);
    if (!task) throw new NotFoundException('task', taskId);
    if (jobId) {
      const [job] = await this.dataSource.query<unknown[]>(`SELECT 1 FROM jobs WHERE id = $1 AND task_id = $2`, [jobId, taskId]);
      if (!job) throw new TasksException(TasksErrorCode.JOB_NOT_IN_TASK, `job "${jobId}" is not one of task "${task.name}"'s jobs`);
    }
    const accept = req.headers.accept ?? '';
    if (accept.includes('text/event-stream')) return this.follow(taskId, jobId, req, res);
    const lines = await this.read(taskId, jobId, new Map());
    if (accept.includes('application/json')) return res.json({ taskId, state: task.state, lines });
    const multiJob = !jobId && new Set(lines.map((l) => l.jobId)).size > 1;
    res.type('text/plain; charset=utf-8').send(lines.map((l) => (multiJob ? prefixLines(`[${l.agentName}] `, l.text) : l.text)).join(''));
  }

  /** Chunks not yet seen, in order: `seen` maps "job:attempt" to the last chunk read. */
  private async read(taskId: string, jobId: string | undefined, seen: Map<string, number>): Promise<LogLine[]> {
    const rows = await this.dataSource.query<LogLine[]>(
      `SELECT c.job_id AS "jobId", a.name AS "agentName", c.attempt, c.seq, c.stream, c.text, c.created_at AS "at"
         FROM log_chunks c JOIN jobs j ON j.id = c.job_id JOIN agents a ON a.id = j.agent_id
        WHERE c.task_id = $1 AND ($2::uuid IS NULL OR c.job_id = $2)
          AND c.seq > COALESCE(($3::jsonb ->> (c.job_id::text || ':' || c.attempt))::int, -1)
        ORDER BY c.created_at, c.job_id, c.attempt, c.seq`,
      [taskId, jobId ?? null, JSON.stringify(Object.fromEntries(seen))],
    );
    for (const r of rows) seen.set(`${r.jobId}:${r.attempt}`, Math.max(seen.get(`${r.jobId}:${r.attempt}`) ?? -1, r.seq));
    return rows;
  }

  private follow(taskId: string, jobId: string | undefined, req: Request, res: Response) {
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
          const [task] = await this.dataSource.query<{ state: TaskState }[]>(`SELECT state FROM tasks WHERE id = $1`, [taskId]);
          for (const line of await this.read(taskId, jobId, seen)) if (!closed) send('log', line);
          if (!task || isFinishedTask(task.state)) {
            if (!closed) send('end', { state: task?.state ?? 'deleted' });
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
    const onChange = (e: { taskId: string }) => e.taskId === taskId && void pump();
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
