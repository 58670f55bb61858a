import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import { Job } from './job.entity';

/**
 * A value a job's script set for what comes after it (`corral set-output`), reported with the
 * job's finish. A sensitive one is stored only sealed (`sealedValue`, bound to its row) and
 * `value` is null.
 */
@Entity('job_outputs')
@Index(['organizationId', 'jobId'])
export class JobOutput {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  jobId: string;

  @ManyToOne(() => Job, { onDelete: 'CASCADE' })
  job: Relation<Job>;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', nullable: true })
  value: string | null;

  @Column({ type: 'text', nullable: true })
  sealedValue: string | null;

  @Column({ type: 'boolean' })
  sensitive: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
