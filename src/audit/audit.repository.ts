import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Sql } from '../database/sql';
import { AuditEvent } from './audit-event.entity';

export type NewAuditEvent = Pick<AuditEvent, 'organizationId' | 'actorType' | 'actorId' | 'actorLabel' | 'action' | 'targetType' | 'targetId' | 'ip' | 'details'>;

@Injectable()
export class AuditRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  async append(event: NewAuditEvent, em: EntityManager = this.dataSource.manager): Promise<void> {
    await em.insert(AuditEvent, event);
  }

  /** Several events in one statement (a hot path's: task creation). */
  async appendMany(events: NewAuditEvent[], em: EntityManager): Promise<void> {
    if (!events.length) return;
    const column = <K extends keyof NewAuditEvent>(key: K) => events.map((e) => e[key]);
    await this.sql.queryIn(
      em,
      'corral_append_audit_events',
      `INSERT INTO audit_events (organization_id, actor_type, actor_id, actor_label, action, target_type, target_id, ip, details)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])`,
      [
        column('organizationId'),
        column('actorType'),
        column('actorId'),
        column('actorLabel'),
        column('action'),
        column('targetType'),
        column('targetId'),
        column('ip'),
        events.map((e) => JSON.stringify(e.details)),
      ],
    );
  }

  /** Newest first; `beforeId` pages backwards through history. */
  findPageForOrganization(organizationId: string, limit: number, beforeId?: string, action?: string, targetId?: string): Promise<AuditEvent[]> {
    const query = this.dataSource.getRepository(AuditEvent).createQueryBuilder('e').where('e.organization_id = :organizationId', { organizationId }).orderBy('e.id', 'DESC').limit(limit);
    if (beforeId) query.andWhere('e.id < :beforeId', { beforeId });
    if (action) query.andWhere('e.action = :action', { action });
    if (targetId) query.andWhere('e.target_id = :targetId', { targetId });
    return query.getMany();
  }
}
