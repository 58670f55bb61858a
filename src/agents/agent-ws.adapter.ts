import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';

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

  /**
   * A frame that breaks the protocol (over maxPayload, bad UTF-8, bad opcode: ws's WS_ERR_* codes)
   * is the peer's fault: ws has already closed the socket with the right code (1009, 1007, 1002),
   * so it is a warning, not an error with a stack. Anything else stays an error.
   */
  override bindErrorHandler(server: WebSocketServer) {
    server.on('connection', (ws: WebSocket) =>
      ws.on('error', (err: Error & { code?: string }) => {
        if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) this.logger.warn(`an agent socket was closed for breaking the protocol: ${err.code}: ${err.message}`);
        else this.logger.error(err);
      }),
    );
    server.on('error', (err) => this.logger.error(err));
    return server;
  }
}
