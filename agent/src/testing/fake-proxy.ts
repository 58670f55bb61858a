import net from 'node:net';

/** A CONNECT-only forward proxy on 127.0.0.1 that records what it was asked. */
export class FakeProxy {
  readonly connects: Array<{ authority: string; authorization: string | undefined }> = [];
  /** When set, CONNECT gets this status line instead of 200. */
  refuseWith: string | null = null;
  url = '';
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor() {
    this.server = net.createServer((client) => this.handle(client));
  }

  static async start(): Promise<FakeProxy> {
    const proxy = new FakeProxy();
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.url = `http://127.0.0.1:${(proxy.server.address() as net.AddressInfo).port}`;
    return proxy;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(client: net.Socket) {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      client.removeListener('data', onData);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const [method, authority] = lines[0].split(' ');
      const authorization = lines.find((l) => l.toLowerCase().startsWith('proxy-authorization:'))?.split(': ')[1];
      this.connects.push({ authority, authorization });
      if (method !== 'CONNECT') return client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
      if (this.refuseWith) return client.end(`HTTP/1.1 ${this.refuseWith}\r\ncontent-length: 0\r\n\r\n`);
      const [host, port] = [authority.slice(0, authority.lastIndexOf(':')), Number(authority.slice(authority.lastIndexOf(':') + 1))];
      const upstream = net.connect({ host, port }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  }
}
