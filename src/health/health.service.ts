import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainException } from '../common/domain.exception';
import { NodeLifecycle } from '../nodes/node-lifecycle.service';

@Injectable()
export class HealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly lifecycle: NodeLifecycle,
  ) {}

  /** Ready for new connections: a load balancer stops sending any to a node draining or stopping. */
  async readiness() {
    if (this.lifecycle.stopping) throw new DomainException('NOT_READY', 'this node is shutting down', 503);
    if (this.lifecycle.draining)
      throw new DomainException('NOT_READY', 'this node is draining: it takes no new agents or work (an operator undrains it with POST /api/v1/nodes/:id/undrain)', 503);
    let pending: boolean;
    try {
      await this.dataSource.query('SELECT 1');
      pending = await this.dataSource.showMigrations();
    } catch (err) {
      throw new DomainException('NOT_READY', `the database is not reachable: ${(err as Error).message}`, 503);
    }
    if (pending) throw new DomainException('NOT_READY', 'database migrations are pending; run "npm run migration:run" or start with RUN_MIGRATIONS=true', 503);
    return { status: 'ready' as const, database: 'ok' as const, migrations: 'applied' as const };
  }
}
