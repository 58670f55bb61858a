import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { maskStep } from '../protocol/masking';
import { type JobLog, LOG_STREAMS } from '../protocol/messages';
import { OrganizationLimitsService } from '../orgs/organization-limits.service';
import { jobSecretAad } from '../secrets/sealed-columns';
import { SecretKeysService } from '../secrets/secret-keys.service';
import { SecretsCipher, sealedKeyId } from '../secrets/secrets-cipher';
import { JobLogsRepository } from './job-logs.repository';
import type { JobRow } from './jobs.repository';
import { droppedMarker, truncatedMarker } from './log-markers';

type Piece = { stream: JobLog['stream']; text: string };

/**
 * Where an agent's output becomes its job's stored log: each chunk once and in sequence, masked
 * with the job's sensitive values (what might begin one is held back until the next chunk shows
 * whether it does), under the organisation's size cap with one marker where it was cut. What was
 * held back is released, masked, when the job ends. The caller holds the job's row lock.
 */
@Injectable()
export class JobLogIntake {
  constructor(
    private readonly cipher: SecretsCipher,
    private readonly secretKeys: SecretKeysService,
    private readonly logs: JobLogsRepository,
    private readonly limits: OrganizationLimitsService,
  ) {}

  /** A job's sensitive values in clear, for its offer and for masking its output. */
  secretsOf(job: Pick<JobRow, 'organizationId' | 'secrets'>): string[] {
    const aad = jobSecretAad(job.organizationId);
    // A value that is not sealed was queued before job secrets were (the rotation seals it).
    return job.secrets.map((value) => (sealedKeyId(value) ? this.cipher.open(value, aad) : value));
  }

  /**
   * Stores a chunk of the job's current attempt if it is the next in sequence (or follows a gap
   * the agent says it dropped, which gets a marker); a duplicate, or a chunk after a gap the agent
   * must fill first, is not stored. Returns the sequence the agent should send next.
   */
  async append(em: EntityManager, job: JobRow, m: JobLog): Promise<number> {
    const skipped = m.dropped && m.seq > job.nextLogSeq && m.seq - m.dropped.chunks <= job.nextLogSeq ? m.dropped : null;
    if (m.seq !== job.nextLogSeq && !skipped) return job.nextLogSeq;
    const carry = { ...job.maskCarry };
    await this.secretKeys.know(job.secrets);
    // PostgreSQL's text cannot hold U+0000, which a script may well print (find -print0): it is kept as U+FFFD.
    const step = maskStep(carry[m.stream] ?? '', m.text.replaceAll('\u0000', '\uFFFD'), this.secretsOf(job));
    // Only what is really held back is kept, so a job with nothing held back finishes at once.
    if (step.carry) carry[m.stream] = step.carry;
    else delete carry[m.stream];
    const pieces: Piece[] = [{ stream: m.stream, text: step.emit }];
    if (skipped) pieces.unshift({ stream: 'system', text: droppedMarker(skipped, m.seq - job.nextLogSeq) });
    await this.store(em, job, m.seq + 1, pieces, carry);
    return m.seq + 1;
  }

  /** Jobs that just ended: what was held back in case it began a secret is stored, masked, as no more output comes. */
  async release(em: EntityManager, jobs: JobRow[]): Promise<void> {
    await this.secretKeys.know(jobs.flatMap((j) => j.secrets));
    for (const job of jobs) {
      const secrets = this.secretsOf(job);
      const tails = LOG_STREAMS.map((stream) => ({ stream, text: maskStep(job.maskCarry[stream] ?? '', '', secrets, true).emit })).filter((t) => t.text);
      if (tails.length) await this.store(em, job, job.nextLogSeq, tails, {});
    }
  }

  /** Stores masked pieces under the per-attempt size cap (the organisation's logBytesPerJob), with one visible marker where it cut. */
  private async store(em: EntityManager, job: JobRow, nextSeq: number, pieces: Piece[], carry: Record<string, string>) {
    const { logBytesPerJob: cap } = await this.limits.of(job.organizationId);
    let bytes = job.logBytes;
    let truncated = job.logTruncated;
    const kept: Piece[] = [];
    for (const piece of pieces) {
      if (truncated || !piece.text) continue;
      const size = Buffer.byteLength(piece.text);
      if (bytes + size <= cap) {
        kept.push(piece);
        bytes += size;
        continue;
      }
      const room = Math.max(0, cap - bytes);
      const head = Buffer.from(piece.text)
        .subarray(0, room)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
      if (head) kept.push({ stream: piece.stream, text: head });
      kept.push({ stream: 'system', text: truncatedMarker(cap) });
      bytes += Buffer.byteLength(head);
      truncated = true;
    }
    await this.logs.appendLog(em, job, nextSeq, kept, { nextLogSeq: nextSeq, logBytes: bytes, logTruncated: truncated, maskCarry: carry });
  }
}
