import { connect, createServer, type Server, type Socket } from 'node:net';

/** How a dropped connection ends: a FIN both ways, or a RST (what a middlebox that forgot the flow sends). */
export type DropMode = 'close' | 'reset';

/**
 * A TCP proxy on 127.0.0.1 between one agent and one control-plane node: it lets the soak cut
 * that agent's live connections as a flaky network would. The node's port is looked up for every
 * new connection, so a node started again on another port is reached through the same proxy,
 * and a node that is down refuses the agent as a dead host would.
 */
export class SoakProxy {
  private readonly server: Server;
  private readonly links = new Set<{ client: Socket; upstream: Socket }>();
  private listening = 0;

  constructor(private readonly upstreamPort: () => number | undefined) {
    this.server = createServer((client) => this.relay(client));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.listening = (this.server.address() as { port: number }).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.listening}`;
  }

  /** Cuts every connection open now; returns how many there were. */
  drop(mode: DropMode): number {
    const cut = [...this.links];
    for (const { client, upstream } of cut) {
      if (mode === 'reset') {
        for (const socket of [client, upstream]) if (!socket.destroyed) socket.resetAndDestroy();
      } else {
        client.destroy();
        upstream.destroy();
      }
    }
    this.links.clear();
    return cut.length;
  }

  async close(): Promise<void> {
    this.drop('close');
    await new Promise((resolve) => this.server.close(resolve));
  }

  private relay(client: Socket) {
    const port = this.upstreamPort();
    if (!port) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    const link = { client, upstream };
    this.links.add(link);
    const end = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('error', end);
      socket.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
