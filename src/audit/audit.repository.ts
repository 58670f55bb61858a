import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Sql, type SqlPart } from '../database/sql';
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

  /**
   * The events of rows another module's statement makes, written by that statement (see SqlPart):
   * event `n` is of the row numbered `n` in `made` (columns n, id), and has that row's id as its
   * target id. Only rows made get their event.
   */
  eventsOfMade(events: (NewAuditEvent & { n: number })[]): SqlPart {
    const column = <K extends keyof NewAuditEvent>(key: K) => events.map((e) => e[key]);
    return {
      name: 'audit',
      sql: (made, p) =>
        `INSERT INTO audit_events (organization_id, actor_type, actor_id, actor_label, action, target_type, target_id, ip, details)
         SELECT e.organization_id, e.actor_type, e.actor_id, e.actor_label, e.action, e.target_type, m.id::text, e.ip, e.details
           FROM unnest($${p}::int[], $${p + 1}::uuid[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::text[], $${p + 5}::text[], $${p + 6}::text[], $${p + 7}::text[], $${p + 8}::jsonb[])
                AS e(n, organization_id, actor_type, actor_id, actor_label, action, target_type, ip, details)
           JOIN ${made} m ON m.n = e.n
         RETURNING 1`,
      values: [
        events.map((e) => e.n),
        column('organizationId'),
        column('actorType'),
        column('actorId'),
        column('actorLabel'),
        column('action'),
        column('targetType'),
        column('ip'),
        events.map((e) => JSON.stringify(e.details)),
      ],
    };
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
