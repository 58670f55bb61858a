import { type DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentsModule } from './agents/agents.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ClusterModule } from './cluster/cluster.module';
import { CorralLogger } from './common/logger';
import type { CorralConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { ConsoleModule } from './console/console.module';
import { dataSourceOptions } from './database/data-source';
import { SqlModule } from './database/sql';
import { DeploymentsModule } from './deployments/deployments.module';
import { EnvironmentsModule } from './environments/environments.module';
import { DownloadsModule } from './downloads/downloads.module';
import { HealthModule } from './health/health.module';
import { HealthChecksModule } from './health-checks/health-checks.module';
import { MetricsModule } from './metrics/metrics.module';
import { QueryCounter } from './metrics/query-counter';
import { NodesModule } from './nodes/nodes.module';
import { OpenApiModule } from './openapi/openapi.module';
import { OrgsModule } from './orgs/orgs.module';
import { TasksModule } from './tasks/tasks.module';
import { VariablesModule } from './variables/variables.module';

@Global()
@Module({})
class LoggerModule {
  static forRoot(logger: CorralLogger): DynamicModule {
    return { module: LoggerModule, providers: [{ provide: CorralLogger, useValue: logger }], exports: [CorralLogger] };
  }
}

@Module({})
export class AppModule {
  /** The application for one control-plane node, on an already prepared database. */
  static forRoot(config: CorralConfig, databaseUrl: string, logger: CorralLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(logger),
        TypeOrmModule.forRoot({ ...dataSourceOptions(databaseUrl, config.databasePoolSize), logging: ['query'], logger: new QueryCounter(), retryAttempts: 3, retryDelay: 1000 }),
        SqlModule,
        ClusterModule,
        AuditModule,
        OrgsModule,
        AuthModule,
        HealthModule,
        DownloadsModule,
        EnvironmentsModule,
        AgentsModule,
        TasksModule,
        HealthChecksModule,
        VariablesModule,
        DeploymentsModule,
        NodesModule,
        MetricsModule,
        ConsoleModule,
        OpenApiModule,
      ],
    };
  }
}
