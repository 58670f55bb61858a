import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { randomToken, sha256Hex } from '../common/secrets';
import type { Invitation } from './invitation.entity';
import { InvitationsRepository } from './invitations.repository';
import { type MemberRow, MembershipsRepository } from './memberships.repository';
import type { Organization } from './organization.entity';
import { OrganizationsRepository } from './organizations.repository';
import { OrgsErrorCode, OrgsException } from './orgs.exception';
import { type Role, roleAtLeast } from './roles';
import type { User } from './user.entity';
import { UsersRepository } from './users.repository';

const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

export type AddMemberResult = { invitation: ReturnType<typeof invitationView>; token: string };

export function invitationView(i: Invitation) {
  return { id: i.id, email: i.email, role: i.role, invitedBy: i.invitedBy, expiresAt: i.expiresAt, createdAt: i.createdAt };
}

@Injectable()
export class OrgsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly organizations: OrganizationsRepository,
    private readonly users: UsersRepository,
    private readonly memberships: MembershipsRepository,
    private readonly invitations: InvitationsRepository,
    private readonly audit: AuditService,
    private readonly events: ClusterEventsService,
  ) {}

  /** Signup: a new organisation whose first user is its owner. Runs inside the caller's transaction. */
  async createOrganizationWithOwner(name: string, email: string, passwordHash: string, em: EntityManager): Promise<{ organization: Organization; user: User }> {
    if (await this.users.findByEmail(email, em)) {
      throw new OrgsException(OrgsErrorCode.EMAIL_TAKEN, `an account for ${email} already exists; log in instead, or ask its organisation's admin to invite you`);
    }
    const organization = await this.organizations.create(name, em);
    const user = await this.users.create(email, passwordHash, em);
    await this.memberships.create(organization.id, user.id, 'owner', em);
    return { organization, user };
  }

  findOrganization(id: string) {
    return this.organizations.findById(id);
  }

  listMembers(actor: Actor) {
    return this.memberships.listForOrganization(actor.organizationId);
  }

  listInvitations(actor: Actor) {
    return this.invitations.listOpenForOrganization(actor.organizationId).then((list) => list.map(invitationView));
  }

  /**
   * Invites the email, whether or not it has an account: no one becomes a member without accepting,
   * and the answer is the same either way, so it tells nobody which emails have accounts.
   */
  async addMember(actor: Actor, email: string, role: Role): Promise<AddMemberResult> {
    this.assertCanGrant(actor, role);
    email = email.toLowerCase();
    const existing = await this.users.findByEmail(email);
    if (existing && (await this.memberships.findForUserInOrganization(actor.organizationId, existing.id))) {
      throw new OrgsException(OrgsErrorCode.ALREADY_MEMBER, `${email} is already a member; change their role instead`);
    }
    if (await this.invitations.findOpenForEmail(actor.organizationId, email)) {
      throw new OrgsException(OrgsErrorCode.ALREADY_INVITED, `${email} already has an open invitation; revoke it to send a new one`);
    }
    const token = `crl_inv_${randomToken(40)}`;
    const invitation = await this.dataSource.transaction(async (em) => {
      const created = await this.invitations.create(
        { organizationId: actor.organizationId, email, role, tokenHash: sha256Hex(token), invitedBy: actor.userId, expiresAt: new Date(Date.now() + INVITATION_TTL_MS) },
        em,
      );
      await this.audit.record(actor, 'member.invited', { type: 'invitation', id: created.id }, { email, role }, em);
      return created;
    });
    return { invitation: invitationView(invitation), token };
  }

  async revokeInvitation(actor: Actor, id: string): Promise<void> {
    if (!(await this.invitations.revoke(actor.organizationId, id))) throw new NotFoundException('open invitation', id);
    await this.audit.record(actor, 'member.invitation_revoked', { type: 'invitation', id });
  }

  /** Accepts an invitation inside the caller's transaction; creates the account when the email has none. */
  async acceptInvitation(token: string, passwordHash: () => Promise<string>, em: EntityManager): Promise<{ user: User; organizationId: string; role: Role; created: boolean }> {
    const invitation = await this.invitations.consume(sha256Hex(token), em);
    if (!invitation) throw new OrgsException(OrgsErrorCode.INVITATION_INVALID, 'this invitation is unknown, expired, revoked or already used; ask for a new one');
    let user = await this.users.findByEmail(invitation.email, em);
    const created = !user;
    user ??= await this.users.create(invitation.email, await passwordHash(), em);
    // A membership made meanwhile (two invitations accepted at once) keeps the role it holds.
    const membership =
      (await this.memberships.findForUserInOrganization(invitation.organizationId, user.id, em)) ?? (await this.memberships.create(invitation.organizationId, user.id, invitation.role, em));
    return { user, organizationId: invitation.organizationId, role: membership.role, created };
  }

  async changeRole(actor: Actor, membershipId: string, role: Role): Promise<MemberRow> {
    const changed = await this.dataSource.transaction(async (em) => {
      // Existence first: another organisation's member is 404 whatever role was asked for.
      const member = await this.requireMember(actor, membershipId, em);
      this.assertCanGrant(actor, role);
      this.assertCanManage(actor, member);
      if (member.role === 'owner' && role !== 'owner') await this.assertNotLastOwner(actor.organizationId, em);
      await this.memberships.updateRole(actor.organizationId, membershipId, role, em);
      const lowered = !roleAtLeast(role, member.role);
      if (lowered) await this.credentialsRevoked(em, actor.organizationId, member.userId);
      await this.audit.record(actor, 'member.role_changed', { type: 'membership', id: membershipId }, { email: member.email, from: member.role, to: role, credentialsRevoked: lowered }, em);
      return { ...member, role };
    });
    await this.credentialsChanged(actor.organizationId);
    return changed;
  }

  /**
   * Told, in the removing or demoting transaction, that a person's standing in an organisation
   * shrank: the module that holds their credentials there (sessions, API keys) ends them, so
   * nothing made with the old role outlives it and coming back later restores none.
   */
  credentialsRevoked: (em: EntityManager, organizationId: string, userId: string) => Promise<void> = async () => undefined;

  async removeMember(actor: Actor, membershipId: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const member = await this.requireMember(actor, membershipId, em);
      this.assertCanManage(actor, member);
      if (member.role === 'owner') await this.assertNotLastOwner(actor.organizationId, em);
      await this.memberships.delete(actor.organizationId, membershipId, em);
      await this.credentialsRevoked(em, actor.organizationId, member.userId);
      await this.audit.record(actor, 'member.removed', { type: 'membership', id: membershipId }, { email: member.email, role: member.role }, em);
    });
    await this.credentialsChanged(actor.organizationId);
  }

  // A member's API keys act with the member's current role: nodes holding them must look again.
  private credentialsChanged(organizationId: string): Promise<void> {
    return this.events.announce({ kind: 'credentials-changed', organizationId });
  }

  private async requireMember(actor: Actor, membershipId: string, em: EntityManager): Promise<MemberRow> {
    const member = await this.memberships.findMemberInOrganization(actor.organizationId, membershipId, em);
    if (!member) throw new NotFoundException('member', membershipId);
    return member;
  }

  private assertCanGrant(actor: Actor, role: Role) {
    if (!roleAtLeast(actor.role, role)) {
      throw new OrgsException(OrgsErrorCode.ROLE_TOO_HIGH, `your role (${actor.role}) cannot grant the role ${role}; ask an owner`);
    }
  }

  private assertCanManage(actor: Actor, member: MemberRow) {
    if (!roleAtLeast(actor.role, member.role)) {
      throw new OrgsException(OrgsErrorCode.ROLE_TOO_HIGH, `${member.email} is ${member.role}, above your role (${actor.role}); ask an owner`);
    }
  }

  private async assertNotLastOwner(organizationId: string, em: EntityManager) {
    if ((await this.memberships.countOwnersForUpdate(organizationId, em)) <= 1) {
      throw new OrgsException(OrgsErrorCode.LAST_OWNER, 'this is the last owner of the organisation; make someone else owner first');
    }
  }
}
