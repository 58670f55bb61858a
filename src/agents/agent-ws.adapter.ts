import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';

/**
 * Nest's ws adapter, minus the per-socket message pipeline for gateways that have no
 * @SubscribeMessage handlers (the agent gateway reads its sockets itself). Without this, every
 * socket carries an rxjs subscription and every frame is parsed twice: at 10,000 idle agents
 * that is memory, and at thousands of jobs a second it is CPU.
 */
export class AgentWsAdapter extends WsAdapter {
  override bindMessageHandlers(client: unknown, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>) {
    if (handlers.length) super.bindMessageHandlers(client, handlers, transform);
  }
}
