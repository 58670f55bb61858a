import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import type { CorralConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { dataSourceOptions } from './database/data-source';
import { HealthModule } from './health/health.module';
import { OrgsModule } from './orgs/orgs.module';

@Module({})
export class AppModule {
  /** The application for one control-plane node, on an already prepared database. */
  static forRoot(config: CorralConfig, databaseUrl: string): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        TypeOrmModule.forRoot({ ...dataSourceOptions(databaseUrl, config.databasePoolSize), retryAttempts: 3, retryDelay: 1000 }),
        AuditModule,
        OrgsModule,
        AuthModule,
        HealthModule,
      ],
    };
  }
}
