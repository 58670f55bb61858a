import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { LogStream } from '../protocol/messages';

/** One stored chunk of a task's log, as readers get it. */
export interface LogLine {
  jobId: string;
  /** The job's own name (a deployment's step). */
  jobName: string;
  agentName: string;
  attempt: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: Date;
}

/** The statements of jobs' logs: chunks stored in order under the job's lock, read back per task. */
@Injectable()
export class JobLogsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Stores one chunk (already masked) and moves the expected sequence on. */
  async appendLog(
    em: EntityManager,
    job: { id: string; taskId: string; attempt: number },
    seq: number,
    pieces: { stream: LogStream; text: string }[],
    state: { nextLogSeq: number; logBytes: number; logTruncated: boolean; maskCarry: Record<string, string> },
  ): Promise<void> {
    // Several pieces (a flushed carry, a truncation marker) may share one agent sequence number;
    // stored chunks are numbered on their own, so each keeps the order it was written in.
    for (const piece of pieces) {
      if (!piece.text) continue;
      await em.query(
        `INSERT INTO log_chunks (job_id, attempt, seq, task_id, stream, text)
         VALUES ($1, $2, (SELECT COALESCE(max(seq) + 1, 0) FROM log_chunks WHERE job_id = $1 AND attempt = $2), $3, $4, $5)`,
        [job.id, job.attempt, job.taskId, piece.stream, piece.text],
      );
    }
    await em.query(`UPDATE jobs SET next_log_seq = $3, log_bytes = $4, log_truncated = $5, mask_carry = $6 WHERE id = $1 AND attempt = $2`, [
      job.id,
      job.attempt,
      seq,
      state.logBytes,
      state.logTruncated,
      JSON.stringify(state.maskCarry),
    ]);
  }

  /** A task's chunks not yet seen, in order: `seen` maps "job:attempt" to the last chunk already read. */
  readLog(organizationId: string, taskId: string, jobId: string | undefined, seen: ReadonlyMap<string, number>): Promise<LogLine[]> {
    return this.dataSource.query(
      `SELECT c.job_id AS "jobId", j.name AS "jobName", a.name AS "agentName", c.attempt, c.seq, c.stream, c.text, c.created_at AS "at"
         FROM log_chunks c JOIN jobs j ON j.id = c.job_id JOIN agents a ON a.id = j.agent_id
        WHERE c.task_id = $1 AND j.organization_id = $4 AND ($2::uuid IS NULL OR c.job_id = $2)
          AND c.seq > COALESCE(($3::jsonb ->> (c.job_id::text || ':' || c.attempt))::int, -1)
        ORDER BY c.created_at, c.job_id, c.attempt, c.seq`,
      [taskId, jobId ?? null, JSON.stringify(Object.fromEntries(seen)), organizationId],
    );
  }
}
