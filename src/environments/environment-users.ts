import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * A module that refers to environments by name (agents, enrollment tokens, later lifecycles and
 * deployments) registers here when it starts, so that the environments module never writes or
 * reads another module's tables: a rename is carried into each user's rows in the renaming
 * transaction, and an environment still in use is not deleted.
 */
export interface EnvironmentUser {
  /** Carries a rename into its rows, inside the renaming transaction. */
  renamed(em: EntityManager, organizationId: string, from: string, to: string): Promise<void>;
  /** How many of its things use the environment, and what they are called ("agents"), for the refusal to delete it. */
  uses(em: EntityManager, organizationId: string, environment: { id: string; name: string }): Promise<{ count: number; what: string }>;
}

@Injectable()
export class EnvironmentUsers {
  private readonly users: EnvironmentUser[] = [];

  register(user: EnvironmentUser) {
    this.users.push(user);
  }

  async renamed(em: EntityManager, organizationId: string, from: string, to: string): Promise<void> {
    for (const user of this.users) await user.renamed(em, organizationId, from, to);
  }

  /** What still uses the environment, as "2 agents, 1 enrollment token"; empty when nothing does. */
  async uses(em: EntityManager, organizationId: string, environment: { id: string; name: string }): Promise<string[]> {
    const uses = [];
    for (const user of this.users) {
      const { count, what } = await user.uses(em, organizationId, environment);
      if (count) uses.push(`${count} ${what}`);
    }
    return uses;
  }
}
