import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { OrgsModule } from '../orgs/orgs.module';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService } from './api-keys.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { RateLimiter } from './rate-limiter';
import { SessionsRepository } from './sessions.repository';

@Module({
  imports: [OrgsModule],
  controllers: [AuthController, ApiKeysController],
  providers: [SessionsRepository, ApiKeysRepository, RateLimiter, AuthService, ApiKeysService, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService],
})
export class AuthModule {}
