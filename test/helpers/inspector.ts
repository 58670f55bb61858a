import WebSocket from 'ws';

/**
 * Node's inspector for a child started with `NODE_OPTIONS=--inspect=127.0.0.1:0`: the child
 * prints the address it listens on, this finds it in the child's output.
 */
export function inspectorUrl(output: string): string {
  const url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(output)?.[1];
  if (!url) throw new Error('the process did not print an inspector address: start it with NODE_OPTIONS=--inspect=127.0.0.1:0');
  return url;
}

/**
 * The bytes the child's V8 heap holds after a full garbage collection. Unlike the RSS, which
 * keeps what the allocator and V8 reserved for a burst long after it ended, this is what the
 * process still references: the measure of a leak.
 */
export async function heapUsedAfterGc(url: string): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 0;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (data: WebSocket.RawData) => {
        const reply = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        if (reply.id !== id) return;
        ws.off('message', onMessage);
        if (reply.error) reject(new Error(`${method}: ${reply.error.message}`));
        else resolve(reply.result ?? {});
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    // Twice: what the first collection's finalizers released is collected by the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return Number(usage.usedSize);
  } finally {
    ws.close();
  }
}
