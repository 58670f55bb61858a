import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import type { Step } from './process.schema';
import { Project } from './project.entity';

/** A version of a project to deploy: a snapshot of the process version it was made from, which later edits never change. */
@Entity('releases')
@Index(['projectId', 'version'], { unique: true })
@Index(['organizationId', 'projectId', 'createdAt'])
export class Release {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  projectId: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project: Relation<Project>;

  @Column({ type: 'text' })
  version: string;

  @Column({ type: 'text', default: '' })
  notes: string;

  /** The process version snapshotted. */
  @Column({ type: 'integer' })
  processVersion: number;

  @Column({ type: 'jsonb' })
  steps: Step[];

  @Column({ type: 'uuid', nullable: true })
  createdBy: string | null;

  @Column({ type: 'text' })
  createdByLabel: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
