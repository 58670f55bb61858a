import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditEvent } from './audit-event.entity';

export type NewAuditEvent = Pick<AuditEvent, 'organizationId' | 'actorType' | 'actorId' | 'actorLabel' | 'action' | 'targetType' | 'targetId' | 'ip' | 'details'>;

@Injectable()
export class AuditRepository {
  constructor(private readonly dataSource: DataSource) {}

  async append(event: NewAuditEvent, em: EntityManager = this.dataSource.manager): Promise<void> {
    await em.insert(AuditEvent, event);
  }

  /** Several events in one statement. */
  async appendMany(events: NewAuditEvent[], em: EntityManager): Promise<void> {
    if (events.length) await em.insert(AuditEvent, events);
  }

  /** Newest first; `beforeId` pages backwards through history. */
  findPageForOrganization(organizationId: string, limit: number, beforeId?: string, action?: string, targetId?: string): Promise<AuditEvent[]> {
    const query = this.dataSource
      .getRepository(AuditEvent)
      .createQueryBuilder('e')
      .where('e.organization_id = :organizationId', { organizationId })
      .orderBy('e.id', 'DESC')
      .limit(limit);
    if (beforeId) query.andWhere('e.id < :beforeId', { beforeId });
    if (action) query.andWhere('e.action = :action', { action });
    if (targetId) query.andWhere('e.target_id = :targetId', { targetId });
    return query.getMany();
  }
}
