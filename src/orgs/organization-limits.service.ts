import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { Organization } from './organization.entity';
import { defaultLimits, effectiveLimits, LIMIT_NAMES, type LimitName, type OrganizationLimits } from './organization-limits';

/** An organisation's limits as shown: in force, the defaults, and which it has of its own. */
export interface LimitsView {
  organizationId: string;
  limits: OrganizationLimits;
  defaults: OrganizationLimits;
  own: Partial<OrganizationLimits>;
}

/**
 * Every organisation's limits on this node: read once and kept until a platform operator changes
 * them (on any node: the cluster event says so).
 */
@Injectable()
export class OrganizationLimitsService {
  readonly defaults: OrganizationLimits;
  private readonly known = new Map<string, Promise<OrganizationLimits>>();

  constructor(
    @InjectConfig() config: CorralConfig,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly events: ClusterEventsService,
  ) {
    this.defaults = defaultLimits(config);
    events.on('limits-changed', (e) => this.known.delete(e.organizationId)).on('resync', () => this.known.clear());
  }

  /** The limits in force for the organisation. */
  of(organizationId: string): Promise<OrganizationLimits> {
    let limits = this.known.get(organizationId);
    if (!limits) {
      limits = this.ownOf(organizationId).then((own) => effectiveLimits(this.defaults, own ?? {}));
      this.known.set(organizationId, limits);
      limits.catch(() => this.known.delete(organizationId));
    }
    return limits;
  }

  async view(organizationId: string): Promise<LimitsView> {
    const own = await this.ownOf(organizationId);
    if (!own) throw new NotFoundException('organization', organizationId);
    return this.viewOf(organizationId, own);
  }

  /** Every organisation with its limits, for platform operators. */
  async list(): Promise<(LimitsView & { name: string; slug: string })[]> {
    const rows = await this.dataSource.manager.find(Organization, { order: { createdAt: 'ASC' } });
    return rows.map((o) => ({ name: o.name, slug: o.slug, ...this.viewOf(o.id, o.limits) }));
  }

  /** A platform operator's change (null: back to the default), audited in the organisation it applies to. */
  async change(operator: Actor, organizationId: string, changes: Partial<Record<LimitName, number | null>>): Promise<LimitsView> {
    const view = await this.dataSource.transaction(async (em) => {
      const org = await em.findOne(Organization, { where: { id: organizationId }, lock: { mode: 'pessimistic_write' } });
      if (!org) throw new NotFoundException('organization', organizationId);
      const own: Partial<Record<LimitName, number>> = { ...org.limits };
      for (const name of LIMIT_NAMES) {
        const value = changes[name];
        if (value === null) delete own[name];
        else if (value !== undefined) own[name] = value;
      }
      await em.update(Organization, { id: organizationId }, { limits: own });
      await this.audit.recordEvent(
        {
          ...this.audit.eventFor(operator, 'organization.limits_changed', { type: 'organization', id: organizationId }, { from: org.limits, to: own }),
          organizationId,
          actorLabel: `${operator.email} (platform operator)`,
        },
        em,
      );
      return this.viewOf(organizationId, own);
    });
    await this.events.announce({ kind: 'limits-changed', organizationId });
    return view;
  }

  private async ownOf(organizationId: string): Promise<Partial<Record<LimitName, number>> | null> {
    const org = await this.dataSource.manager.findOne(Organization, { where: { id: organizationId }, select: { id: true, limits: true } });
    return org ? org.limits : null;
  }

  private viewOf(organizationId: string, own: Partial<Record<LimitName, number>>): LimitsView {
    const limits = effectiveLimits(this.defaults, own);
    return { organizationId, limits, defaults: this.defaults, own: Object.fromEntries(LIMIT_NAMES.filter((n) => own[n] !== undefined).map((n) => [n, limits[n]])) };
  }
}
