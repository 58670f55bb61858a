import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { type Actor, actorLabel } from '../common/actor';
import type { SqlPart } from '../database/sql';
import type { AuditEvent } from './audit-event.entity';
import { AuditRepository, type NewAuditEvent } from './audit.repository';

export interface AuditTarget {
  type: string;
  id: string;
}

@Injectable()
export class AuditService {
  constructor(private readonly audit: AuditRepository) {}

  /** Records what an authenticated actor did, in the actor's organisation. */
  record(actor: Actor, action: string, target?: AuditTarget, details: Record<string, unknown> = {}, em?: EntityManager): Promise<void> {
    return this.audit.append(this.eventFor(actor, action, target, details), em);
  }

  /** Records an event made with `eventFor`, in the caller's transaction. */
  recordEvent(event: NewAuditEvent, em: EntityManager): Promise<void> {
    return this.audit.append(event, em);
  }

  /** Events made with `eventFor`, of rows another module's statement makes, recorded by that statement (see AuditRepository.eventsOfMade). */
  ofMade(events: (NewAuditEvent & { n: number })[]): SqlPart {
    return this.audit.eventsOfMade(events);
  }

  /** The event `record` would write, for a caller that records it later (with `recordEvent` or `ofMade`). */
  eventFor(actor: Actor, action: string, target?: AuditTarget, details: Record<string, unknown> = {}): NewAuditEvent {
    return {
      organizationId: actor.organizationId,
      actorType: actor.type,
      actorId: actor.type === 'api_key' ? actor.apiKeyId! : actor.userId,
      actorLabel: actorLabel(actor),
      action,
      targetType: target?.type ?? null,
      targetId: target?.id ?? null,
      ip: actor.ip,
      details: actor.type === 'api_key' ? { ...details, onBehalfOf: actor.userId } : details,
    };
  }

  /** Records an event with no authenticated actor yet (signup, login attempts). */
  recordAnonymous(
    event: { organizationId: string | null; userId?: string | null; email: string; action: string; ip: string; target?: AuditTarget; details?: Record<string, unknown> },
    em?: EntityManager,
  ): Promise<void> {
    return this.audit.append(
      {
        organizationId: event.organizationId,
        actorType: event.userId ? 'user' : 'anonymous',
        actorId: event.userId ?? null,
        actorLabel: event.email,
        action: event.action,
        targetType: event.target?.type ?? null,
        targetId: event.target?.id ?? null,
        ip: event.ip,
        details: event.details ?? {},
      },
      em,
    );
  }

  list(actor: Actor, limit: number, before?: string, action?: string, targetId?: string): Promise<AuditEvent[]> {
    return this.audit.findPageForOrganization(actor.organizationId, limit, before, action, targetId);
  }
}
