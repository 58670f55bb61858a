import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import type { Step } from './process.schema';
import { Project } from './project.entity';

/** One version of a project's deployment process: every change is a new version, and releases keep the one they were made from. */
@Entity('process_versions')
@Index(['projectId', 'version'], { unique: true })
export class ProcessVersion {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  projectId: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project: Relation<Project>;

  @Column({ type: 'integer' })
  version: number;

  @Column({ type: 'jsonb' })
  steps: Step[];

  @Column({ type: 'uuid', nullable: true })
  createdBy: string | null;

  @Column({ type: 'text' })
  createdByLabel: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
