import { Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';
import { NodesModule } from '../nodes/nodes.module';

@Module({ imports: [NodesModule], controllers: [HealthController], providers: [HealthService] })
export class HealthModule {}
