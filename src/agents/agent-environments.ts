import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { EnvironmentUsers } from '../environments/environment-users';
import { EnvironmentsService } from '../environments/environments.service';

/**
 * Agents and enrollment tokens carry environments by name: names given by a client must be
 * environments of the organisation (ids are taken too), stored as the environment spells them;
 * a rename of an environment is carried into them, and one they carry is not deleted.
 */
@Injectable()
export class AgentEnvironments implements OnModuleInit {
  constructor(
    private readonly environments: EnvironmentsService,
    private readonly users: EnvironmentUsers,
  ) {}

  onModuleInit() {
    this.users.register({
      renamed: async (em, organizationId, from, to) => {
        for (const table of ['agents', 'enrollment_tokens'])
          await em.query(`UPDATE ${table} SET environments = array_replace(environments, $2, $3) WHERE organization_id = $1 AND $2 = ANY (environments)`, [organizationId, from, to]);
      },
      uses: async (em, organizationId, { name }) => {
        const [{ n }] = await em.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM agents WHERE organization_id = $1 AND $2 = ANY (environments) AND status IN ('pending', 'approved')`, [
          organizationId,
          name,
        ]);
        return { count: n, what: n === 1 ? 'agent' : 'agents' };
      },
    });
  }

  /** The environments' names, as they are spelled; 422 naming any that does not exist. */
  async names(organizationId: string, refs: string[] | undefined, em?: EntityManager): Promise<string[] | undefined> {
    if (!refs) return undefined;
    return (await this.environments.resolve(organizationId, refs, em)).map((e) => e.name);
  }
}
