import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DataSource, type EntityManager } from 'typeorm';
import { AgentsRepository } from '../agents/agents.repository';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { parseOrReject } from '../common/validation';
import { EnvironmentUsers } from '../environments/environment-users';
import { EnvironmentsService } from '../environments/environments.service';
import { variableAad } from '../secrets/sealed-columns';
import { SecretsCipher } from '../secrets/secrets-cipher';
import { conflicts, type ScopeLabel, type ValueSource, type VariableScope } from './scope';
import type { VariableSet } from './variable-set.entity';
import type { Variable } from './variable.entity';
import { VariablesErrorCode, VariablesException } from './variables.exception';
import { type NewVariable, type Owner, VariablesRepository } from './variables.repository';
import { type VariableInput, VariablesInputSchema, VariableSetInputSchema, VariableSetUpdateSchema } from './variables.schema';

/** A value ready to be resolved: sensitive ones opened, which only ever leave the control plane inside the job that needs them. */
export interface OpenValue {
  id: string;
  name: string;
  value: string | null;
  sensitive: boolean;
  scope: VariableScope;
  source: ValueSource;
  prompt: Variable['prompt'];
}

/** Named scope entries as the API shows them. */
interface Names {
  environments: Map<string, string>;
  agents: Map<string, string>;
}

export function setView(s: VariableSet) {
  return { id: s.id, name: s.name, description: s.description, createdAt: s.createdAt, updatedAt: s.updatedAt };
}

/**
 * Variables of projects and library sets: saved as whole lists, checked so that no two values
 * of a name can ever tie, sensitive values sealed before they are written and never shown again.
 */
@Injectable()
export class VariablesService implements OnModuleInit {
  /** The names of what includes a library set (projects), asked before it is deleted; the module that includes sets sets it. */
  setUsers: (em: EntityManager, organizationId: string, setId: string) => Promise<string[]> = async () => [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly variables: VariablesRepository,
    private readonly cipher: SecretsCipher,
    private readonly environments: EnvironmentsService,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditService,
    private readonly environmentUsers: EnvironmentUsers,
  ) {}

  onModuleInit() {
    // Scopes name environments by id: a rename needs nothing, and a scoped environment stays.
    this.environmentUsers.register({
      renamed: async () => undefined,
      uses: async (em, organizationId, { id }) => {
        const count = await this.variables.countScopedToEnvironment(em, organizationId, id);
        return { count, what: count === 1 ? 'variable value scoped to it' : 'variable values scoped to it' };
      },
    });
  }

  /** The owner's values as the API shows them: a sensitive one only says whether it has a value. */
  async view(organizationId: string, owner: Owner, em: EntityManager = this.dataSource.manager) {
    const rows = await this.variables.list(organizationId, owner, em);
    const names = await this.names(em, organizationId, rows);
    return rows.map((v) => variableView(v, names));
  }

  /** Saves `body` as the owner's whole list, in one transaction the caller holds (with the owner locked). */
  async replace(em: EntityManager, actor: Actor, owner: Owner & { name: string }, body: unknown) {
    const input = parseOrReject(VariablesInputSchema, body);
    const organizationId = actor.organizationId;
    const existing = new Map((await this.variables.list(organizationId, owner, em)).map((v) => [v.id, v]));
    const problems: string[] = [];
    const rows: NewVariable[] = [];
    for (const [position, item] of input.entries()) {
      const row = await this.row(em, organizationId, owner, position, item, existing, problems);
      if (row) rows.push(row);
    }
    const source: ValueSource = { kind: 'project' };
    const names = await this.names(em, organizationId, rows);
    for (const [a, b] of conflicts(rows.map((r) => ({ ...r, source })))) {
      problems.push(`"${a.name}" has two values that could both apply (${describeScope(a.scope, names)} and ${describeScope(b.scope, names)}); narrow or merge one of the scopes`);
    }
    if (problems.length) throw new VariablesException(VariablesErrorCode.INVALID_VARIABLES, problems.join('; '), { problems });
    await this.variables.replace(em, organizationId, owner, rows);
    await this.audit.record(
      actor,
      'variables.updated',
      { type: owner.kind === 'project' ? 'project' : 'variable_set', id: owner.id },
      { of: owner.name, names: [...new Set(rows.map((r) => r.name))], sensitive: [...new Set(rows.filter((r) => r.sensitive).map((r) => r.name))], values: rows.length },
      em,
    );
    return this.view(organizationId, owner, em);
  }

  /** The row one item of a list becomes, or null with what is wrong added to `problems`. */
  private async row(
    em: EntityManager,
    organizationId: string,
    owner: Owner,
    position: number,
    item: VariableInput,
    existing: Map<string, Variable>,
    problems: string[],
  ): Promise<NewVariable | null> {
    const where = `value ${position + 1} ("${item.name}")`;
    const before = item.id ? existing.get(item.id) : undefined;
    if (item.id && !before) {
      problems.push(`${where} has the id ${item.id}, which is not one of this list's values (or is given twice); leave id out to add a value`);
      return null;
    }
    // Each saved value is taken once: a second item with its id is a mistake, not a copy.
    if (item.id) existing.delete(item.id);
    const sensitive = item.sensitive ?? before?.sensitive ?? false;
    const id = before?.id ?? randomUUID();
    let value: string | null = null;
    let sealedValue: string | null = null;
    if (item.value !== undefined) {
      if (sensitive) sealedValue = this.cipher.seal(item.value, variableAad(id));
      else value = item.value;
    } else if (before?.sensitive && !sensitive) {
      problems.push(`${where} is no longer sensitive: give its new value, as the old one stays secret`);
      return null;
    } else if (before && sensitive && !before.sensitive) {
      // Made sensitive: what it had is sealed from now on.
      sealedValue = before.value === null ? null : this.cipher.seal(before.value, variableAad(id));
    } else if (before) {
      ({ value, sealedValue } = before);
    } else if (sensitive && !item.prompt) {
      problems.push(`${where} is sensitive and has no value; give one (it is never shown again)`);
      return null;
    } else if (!sensitive && !item.prompt) {
      value = '';
    }
    const scope = await this.scope(em, organizationId, item.scope ?? {}, where, problems);
    const prompt = item.prompt ? { label: item.prompt.label ?? item.name, required: item.prompt.required ?? false } : null;
    return {
      id,
      organizationId,
      ownerKind: owner.kind,
      ownerId: owner.id,
      position,
      name: item.name,
      value,
      sealedValue,
      sensitive,
      description: item.description ?? '',
      scope,
      prompt,
      source: null,
    };
  }

  /** The scope as stored: environments and agents by id (names resolved), roles and steps by name. */
  private async scope(em: EntityManager, organizationId: string, input: NonNullable<VariableInput['scope']>, where: string, problems: string[]): Promise<VariableScope> {
    const scope: VariableScope = {};
    if (input.environments?.length) {
      try {
        scope.environments = (await this.environments.resolve(organizationId, input.environments, em)).map((e) => e.id);
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
    }
    if (input.agents?.length) {
      const found = await this.agents.findByIdsOrNames(em, organizationId, input.agents);
      const match = (ref: string) => found.find((a) => a.id === ref || a.name === ref);
      const missing = input.agents.filter((ref) => !match(ref));
      if (missing.length) problems.push(`${where} is scoped to ${missing.map((m) => `"${m}"`).join(', ')}, which is no agent of this organisation`);
      scope.agents = [...new Set(input.agents.flatMap((ref) => match(ref)?.id ?? []))];
    }
    if (input.roles?.length) scope.roles = [...new Set(input.roles)];
    if (input.steps?.length) scope.steps = [...new Set(input.steps)];
    return scope;
  }

  /** Environment and agent names of the ids in these values' scopes. */
  private async names(em: EntityManager, organizationId: string, rows: Pick<Variable, 'scope'>[]): Promise<Names> {
    const agentIds = [...new Set(rows.flatMap((r) => r.scope.agents ?? []))];
    const [environments, agents] = await Promise.all([this.environments.inOrder(organizationId, em), agentIds.length ? this.agents.findByIdsOrNames(em, organizationId, agentIds) : []]);
    return { environments: new Map(environments.map((e) => [e.id, e.name])), agents: new Map(agents.map((a) => [a.id, a.name])) };
  }

  // ---- Library variable sets -------------------------------------------------------------------

  async listSets(actor: Actor) {
    return (await this.variables.listSets(actor.organizationId)).map(setView);
  }

  async getSet(actor: Actor, id: string) {
    const set = await this.requireSet(actor.organizationId, id);
    return { ...setView(set), variables: await this.view(actor.organizationId, { kind: 'set', id }) };
  }

  async createSet(actor: Actor, body: unknown) {
    const input = parseOrReject(VariableSetInputSchema, body);
    return this.dataSource.transaction(async (em) => {
      await this.variables.lockSets(em, actor.organizationId);
      await this.assertSetNameFree(em, actor.organizationId, input.name);
      const created = await this.variables.createSet(em, { organizationId: actor.organizationId, name: input.name, description: input.description ?? '' });
      await this.audit.record(actor, 'variable_set.created', { type: 'variable_set', id: created.id }, { name: created.name }, em);
      return setView(created);
    });
  }

  async updateSet(actor: Actor, id: string, body: unknown) {
    const input = parseOrReject(VariableSetUpdateSchema, body);
    return this.dataSource.transaction(async (em) => {
      await this.variables.lockSets(em, actor.organizationId);
      const existing = await this.requireSet(actor.organizationId, id, em);
      if (input.name !== undefined) await this.assertSetNameFree(em, actor.organizationId, input.name, id);
      await this.variables.updateSet(em, actor.organizationId, id, input);
      await this.audit.record(actor, 'variable_set.updated', { type: 'variable_set', id }, { name: input.name ?? existing.name, changed: Object.keys(input) }, em);
      return setView({ ...existing, ...input });
    });
  }

  async deleteSet(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await this.variables.lockSets(em, actor.organizationId);
      const existing = await this.requireSet(actor.organizationId, id, em);
      const users = await this.setUsers(em, actor.organizationId, id);
      if (users.length)
        throw new VariablesException(
          VariablesErrorCode.SET_IN_USE,
          `variable set "${existing.name}" is included by ${users.map((u) => `"${u}"`).join(', ')}; remove it from their variableSetIds first`,
        );
      await this.variables.deleteSet(em, actor.organizationId, id);
      await this.audit.record(actor, 'variable_set.deleted', { type: 'variable_set', id }, { name: existing.name }, em);
    });
  }

  async putSetVariables(actor: Actor, id: string, body: unknown) {
    return this.dataSource.transaction(async (em) => {
      await this.variables.lockSets(em, actor.organizationId);
      const set = await this.requireSet(actor.organizationId, id, em);
      return this.replace(em, actor, { kind: 'set', id, name: set.name }, body);
    });
  }

  async requireSet(organizationId: string, id: string, em?: EntityManager): Promise<VariableSet> {
    const [found] = isUUID(id) ? await this.variables.findSets(organizationId, [id], em) : [];
    if (!found) throw new NotFoundException('variable set', id);
    return found;
  }

  /** The sets with these ids, in the order given; 422 naming any that is not there. */
  async requireSets(organizationId: string, ids: string[], em?: EntityManager): Promise<VariableSet[]> {
    const unique = [...new Set(ids)];
    const found = await this.variables.findSets(
      organizationId,
      unique.filter((id) => isUUID(id)),
      em,
    );
    const missing = unique.filter((id) => !found.some((s) => s.id === id));
    if (missing.length)
      throw new VariablesException(VariablesErrorCode.UNKNOWN_SET, `no variable set ${missing.map((m) => `"${m}"`).join(', ')} in this organisation; see GET /api/v1/variable-sets`);
    return unique.map((id) => found.find((s) => s.id === id)!);
  }

  private async assertSetNameFree(em: EntityManager, organizationId: string, name: string, except?: string) {
    if (await this.variables.findSetByName(em, organizationId, name, except))
      throw new VariablesException(VariablesErrorCode.NAME_TAKEN, `a variable set named "${name}" already exists; pick another`);
  }

  // ---- What a step sees ------------------------------------------------------------------------

  /**
   * Copies the project's values and those of its sets (in the order it includes them) to be the
   * release's own; the release's earlier copy, if any, goes. Sensitive values are sealed again
   * for their new rows.
   */
  async snapshot(em: EntityManager, organizationId: string, projectId: string, setIds: string[], releaseId: string): Promise<void> {
    const rows: NewVariable[] = [];
    for (const { owner, source } of await this.projectSources(organizationId, projectId, setIds, em)) {
      for (const v of await this.variables.list(organizationId, owner, em)) {
        const id = randomUUID();
        const sealedValue = v.sealedValue === null ? null : this.cipher.seal(this.cipher.open(v.sealedValue, variableAad(v.id)), variableAad(id));
        rows.push({ ...v, id, ownerKind: 'release', ownerId: releaseId, position: rows.length, sealedValue, source });
      }
    }
    await this.variables.replace(em, organizationId, { kind: 'release', id: releaseId }, rows);
  }

  /** Where a project's values come from: the project itself, then its library sets in the order it includes them. */
  async projectSources(organizationId: string, projectId: string, setIds: string[], em?: EntityManager): Promise<{ owner: Owner; source: ValueSource }[]> {
    const sets = await this.requireSets(organizationId, setIds, em);
    return [
      { owner: { kind: 'project', id: projectId }, source: { kind: 'project' } },
      ...sets.map((s, order) => ({ owner: { kind: 'set' as const, id: s.id }, source: { kind: 'set' as const, setId: s.id, name: s.name, order } })),
    ];
  }

  /** The values of a release's snapshot (or a project's and its sets', for a preview), sensitive ones opened. */
  async openValues(organizationId: string, owners: { owner: Owner; source: ValueSource }[], em: EntityManager = this.dataSource.manager): Promise<OpenValue[]> {
    const values: OpenValue[] = [];
    for (const { owner, source } of owners) {
      for (const v of await this.variables.list(organizationId, owner, em)) {
        const value = v.sealedValue === null ? v.value : this.cipher.open(v.sealedValue, variableAad(v.id));
        values.push({ id: v.id, name: v.name, value, sensitive: v.sensitive, scope: v.scope, source: v.source ?? source, prompt: v.prompt });
      }
    }
    return values;
  }

  /** Values given to one deployment (answers to prompts), sealed like any other. */
  async savePrompted(em: EntityManager, organizationId: string, deploymentId: string, given: { name: string; value: string; sensitive: boolean }[]): Promise<void> {
    const rows = given.map((g, position): NewVariable => {
      const id = randomUUID();
      return {
        id,
        organizationId,
        ownerKind: 'deployment',
        ownerId: deploymentId,
        position,
        name: g.name,
        value: g.sensitive ? null : g.value,
        sealedValue: g.sensitive ? this.cipher.seal(g.value, variableAad(id)) : null,
        sensitive: g.sensitive,
        description: '',
        scope: {},
        prompt: null,
        source: { kind: 'project' },
      };
    });
    await this.variables.replace(em, organizationId, { kind: 'deployment', id: deploymentId }, rows);
  }

  /** Removes the values of things being deleted (a project, its releases and deployments). */
  async deleteOwners(em: EntityManager, organizationId: string, owners: { kind: Owner['kind']; ids: string[] }[]): Promise<void> {
    for (const { kind, ids } of owners) if (ids.length) await this.variables.deleteOwners(em, organizationId, kind, ids);
  }

  /** How the ids in these values' scopes read in a reason (`environment Dev`, `agent web-01`). */
  async labels(organizationId: string, rows: Pick<Variable, 'scope'>[], em: EntityManager = this.dataSource.manager): Promise<ScopeLabel> {
    const names = await this.names(em, organizationId, rows);
    return (dimension, entry) => (dimension === 'environment' ? names.environments.get(entry) : dimension === 'agent' ? names.agents.get(entry) : undefined) ?? entry;
  }
}

function scopeView(scope: VariableScope, names: Names) {
  return {
    ...(scope.environments ? { environments: scope.environments.map((id) => ({ id, name: names.environments.get(id) ?? null })) } : {}),
    ...(scope.roles ? { roles: scope.roles } : {}),
    ...(scope.agents ? { agents: scope.agents.map((id) => ({ id, name: names.agents.get(id) ?? null })) } : {}),
    ...(scope.steps ? { steps: scope.steps } : {}),
  };
}

function variableView(v: Variable, names: Names) {
  return {
    id: v.id,
    name: v.name,
    ...(v.sensitive ? { sensitive: true as const, hasValue: v.sealedValue !== null } : { sensitive: false as const, value: v.value }),
    description: v.description,
    scope: scopeView(v.scope, names),
    prompt: v.prompt,
  };
}

function describeScope(scope: VariableScope, names: Names): string {
  const named = (ids: string[], of: Map<string, string>) => ids.map((id) => of.get(id) ?? id);
  const parts = Object.entries({ ...scope, environments: named(scope.environments ?? [], names.environments), agents: named(scope.agents ?? [], names.agents) })
    .filter(([, v]) => v?.length)
    .map(([k, v]) => `${k} ${v!.join(', ')}`);
  return parts.length ? `scoped to ${parts.join(' and ')}` : 'unscoped';
}
