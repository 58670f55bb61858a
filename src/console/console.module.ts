import { join } from 'node:path';
import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AgentsModule } from '../agents/agents.module';
import { AuthModule } from '../auth/auth.module';
import { OrgsModule } from '../orgs/orgs.module';
import { AgentEventsController } from './agent-events.controller';
import { AgentEventsService } from './agent-events.service';
import { ConsoleSessionController } from './console-session.controller';
import { ConsoleSessionService } from './console-session.service';
import { consoleStatic } from './console-static.middleware';

// `npm run build` puts the console next to the compiled server: dist/console beside dist/src.
export const CONSOLE_DIR = join(__dirname, '..', '..', 'console');

/** The web console: its static files at `/`, who is logged in, and the live agent changes it listens to. */
@Module({
  imports: [AgentsModule, AuthModule, OrgsModule],
  controllers: [AgentEventsController, ConsoleSessionController],
  providers: [AgentEventsService, ConsoleSessionService],
})
export class ConsoleModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit() {
    // Nest calls this after it has registered the API's routes and before its not-found
    // handler, so every API route wins and an unknown /api path still gets the JSON 404.
    this.adapterHost.httpAdapter.use(consoleStatic(CONSOLE_DIR));
  }
}
