import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import type { LogStream } from '../protocol/messages';
import { Job } from './job.entity';

/** One stored piece of a job attempt's output, masked before it was written. */
@Entity('log_chunks')
// Serves a task's log in order, and the live stream's "what is new since".
@Index(['taskId', 'createdAt'])
export class LogChunk {
  @PrimaryColumn({ type: 'uuid' })
  jobId: string;

  @ManyToOne(() => Job, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'job_id' })
  job: Relation<Job>;

  @PrimaryColumn({ type: 'int' })
  attempt: number;

  @PrimaryColumn({ type: 'int' })
  seq: number;

  @Column({ type: 'uuid' })
  taskId: string;

  @Column({ type: 'text' })
  stream: LogStream;

  @Column({ type: 'text' })
  text: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
