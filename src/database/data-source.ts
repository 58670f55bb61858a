import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AgentNonce } from '../agents/agent-nonce.entity';
import { Agent } from '../agents/agent.entity';
import { EnrollmentToken } from '../agents/enrollment-token.entity';
import { ServerSigningKey } from '../agents/server-signing-key.entity';
import { AuditEvent } from '../audit/audit-event.entity';
import { ApiKey } from '../auth/api-key.entity';
import { RateLimitBucket } from '../auth/rate-limit-bucket.entity';
import { Session } from '../auth/session.entity';
import { User } from '../orgs/user.entity';
import { Invitation } from '../orgs/invitation.entity';
import { Membership } from '../orgs/membership.entity';
import { Organization } from '../orgs/organization.entity';
import { ServerNode } from '../nodes/server-node.entity';
import { Job } from '../tasks/job.entity';
import { LogChunk } from '../tasks/log-chunk.entity';
import { Task } from '../tasks/task.entity';
import { SnakeNamingStrategy } from './snake-naming.strategy';

export const ENTITIES = [Organization, User, Membership, Invitation, Session, ApiKey, RateLimitBucket, AuditEvent, EnrollmentToken, Agent, AgentNonce, ServerSigningKey, Task, Job, LogChunk, ServerNode];

// Resolves to migrations/*.ts from the sources and dist/migrations/*.js once built.
export const MIGRATIONS_GLOB = join(__dirname, '..', '..', 'migrations', '*.{ts,js}');

/** The one data source definition shared by the app, the migration CLI and the tests. */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: [MIGRATIONS_GLOB],
    migrationsTableName: 'migrations',
    namingStrategy: new SnakeNamingStrategy(),
    // gen_random_uuid() is built into PostgreSQL 13+: no extension to install.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    synchronize: false,
    migrationsRun: false,
    extra: { max: poolSize, application_name: 'corral' },
  };
}

export function createDataSource(url: string, poolSize = 10): DataSource {
  return new DataSource(dataSourceOptions(url, poolSize));
}
