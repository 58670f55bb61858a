import { describeServiceState, notifyArguments, ServiceNotifier, type ConnectionState } from './service-notifier';
import { EMPTY_STATUS } from './state-store';

const starting: ConnectionState = { ...EMPTY_STATUS, pid: 4242 };
const connected: ConnectionState = { ...starting, connected: true, transport: 'websocket', server: 'https://corral.example.com', status: 'pending' };

describe('the status line systemd shows', () => {
  it.each<[string, ConnectionState, string]>([
    ['starting', starting, 'connecting'],
    ['pending', connected, 'connected over WebSocket to https://corral.example.com; waiting for approval in the Corral console'],
    ['approved on long-poll', { ...connected, transport: 'long-poll', status: 'approved' }, 'connected over HTTP long-poll to https://corral.example.com; approved, taking work'],
    ['lost', { ...connected, connected: false, lastError: 'ECONNREFUSED' }, 'not connected (ECONNREFUSED); retrying'],
    ['asked to reconnect', { ...connected, connected: false }, 'reconnecting to https://corral.example.com'],
    ['stopped', { ...connected, connected: false, pid: null }, 'stopped'],
    ['revoked', { ...connected, connected: false, pid: null, status: 'revoked', lastError: 'agent "web-01" was revoked' }, 'stopped: agent "web-01" was revoked'],
  ])('%s', (_, state, line) => expect(describeServiceState(state)).toBe(line));
});

describe('systemd-notify arguments', () => {
  it('sends READY only when asked, and the status as one line', () => {
    expect(notifyArguments({ ready: true, status: 'connected' })).toEqual(['--ready', '--status=connected']);
    expect(notifyArguments({ ready: false, status: 'lost:\nMAINPID=1\r\u0000 again' })).toEqual(['--status=lost: MAINPID=1 again']);
  });

  it('cuts a long status line', () => {
    const [status] = notifyArguments({ ready: false, status: 'x'.repeat(1000) });
    expect(status).toBe(`--status=${'x'.repeat(199)}…`);
  });
});

describe('the service notifier', () => {
  /** A sender that holds each message until released, to see what queues up behind it. */
  function heldSender() {
    const sent: string[][] = [];
    const waiting: (() => void)[] = [];
    const send = (args: string[]) =>
      new Promise<void>((resolve) => {
        sent.push(args);
        waiting.push(resolve);
      });
    const releaseAll = async () => {
      while (waiting.length) {
        waiting.shift()!();
        await new Promise((r) => setImmediate(r));
      }
    };
    return { sent, send, releaseAll };
  }

  it('says READY once, the first time the agent is connected, and not again after a reconnect', async () => {
    const sender = heldSender();
    const notifier = new ServiceNotifier(sender.send);
    for (const state of [starting, connected, { ...connected, connected: false, lastError: 'reset' }, connected]) {
      notifier.update(state);
      await sender.releaseAll();
    }
    await notifier.idle();
    expect(sender.sent).toEqual([
      ['--status=connecting'],
      ['--ready', `--status=${describeServiceState(connected)}`],
      ['--status=not connected (reset); retrying'],
      [`--status=${describeServiceState(connected)}`],
    ]);
  });

  it('sends one message at a time, skips status lines superseded while waiting, and repeats none', async () => {
    const sender = heldSender();
    const notifier = new ServiceNotifier(sender.send);
    notifier.update(starting);
    notifier.update(starting);
    notifier.update({ ...starting, lastError: 'first' });
    notifier.update({ ...starting, lastError: 'second' });
    expect(sender.sent).toEqual([['--status=connecting']]);
    await sender.releaseAll();
    await notifier.idle();
    expect(sender.sent).toEqual([['--status=connecting'], ['--status=not connected (second); retrying']]);
  });

  it('never drops READY for a later status line', async () => {
    const sender = heldSender();
    const notifier = new ServiceNotifier(sender.send);
    notifier.update(starting);
    notifier.update(connected);
    notifier.update({ ...connected, status: 'approved' });
    await sender.releaseAll();
    await notifier.idle();
    expect(sender.sent.map((args) => args[0])).toEqual(['--status=connecting', '--ready', `--status=${describeServiceState({ ...connected, status: 'approved' })}`]);
  });
});
