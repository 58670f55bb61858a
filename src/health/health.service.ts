import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainException } from '../common/domain.exception';

@Injectable()
export class HealthService {
  constructor(private readonly dataSource: DataSource) {}

  async readiness() {
    let pending: boolean;
    try {
      await this.dataSource.query('SELECT 1');
      pending = await this.dataSource.showMigrations();
    } catch (err) {
      throw new DomainException('NOT_READY', `the database is not reachable: ${(err as Error).message}`, 503);
    }
    if (pending) throw new DomainException('NOT_READY', 'database migrations are pending; run "npm run migration:run" or start with RUN_MIGRATIONS=true', 503);
    return { status: 'ready', database: 'ok', migrations: 'applied' };
  }
}
