import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Api } from '../api';
import { UsageError } from '../args';
import { type Command, EXIT } from '../command';
import { checkUrl, configPath, saveLogin } from '../settings';

/** The key from stdin: piped (`… | corral login`), or typed at a prompt that does not echo it. */
async function readKey(): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    let text = '';
    for await (const chunk of input) text += String(chunk);
    return text.trim();
  }
  process.stderr.write('API key (input hidden): ');
  const rl = createInterface({ input, terminal: true });
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  const key = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  process.stderr.write('\n');
  return key.trim();
}

export const login: Command = {
  path: ['login'],
  summary: 'check an API key against a server and keep both for later commands',
  usage: 'corral login --url URL [--ca-file FILE]   (the key on stdin, or typed at the prompt)',
  flags: { url: { value: true }, 'ca-file': { value: true } },
  async run(ctx) {
    const url = checkUrl(ctx.flags.required('url', 'https://corral.example.com'), '--url');
    const apiKey = ctx.env.CORRAL_API_KEY?.trim() || (await readKey());
    if (!apiKey) throw new UsageError('no API key given: create one in the console under API keys, then paste it here');
    const caFile = ctx.flags.string('ca-file') ?? null;
    const api = new Api({ url, apiKey, caFile });
    try {
      const me = await api.ok(api.client.GET('/api/v1/me'));
      const path = configPath(ctx.env);
      saveLogin(path, { url, apiKey, caFile });
      ctx.out.result(
        me,
        () => `logged in to ${url} as ${me.authenticatedBy.type === 'api_key' ? me.authenticatedBy.name : me.user.email} (${me.role} in ${me.organization.name}); saved in ${path}`,
      );
    } finally {
      api.close();
    }
    return EXIT.ok;
  },
};

export const logout: Command = {
  path: ['logout'],
  summary: 'forget the saved server and key (the key itself stays valid: revoke it in the console)',
  usage: 'corral logout',
  flags: {},
  async run(ctx) {
    const path = configPath(ctx.env);
    rmSync(path, { force: true });
    ctx.out.result({ removed: path }, () => `removed ${path}`);
    return EXIT.ok;
  },
};

export const whoami: Command = {
  path: ['whoami'],
  summary: 'who the key acts as, and where',
  usage: 'corral whoami',
  flags: {},
  async run(ctx) {
    const api = ctx.api();
    const me = await api.ok(api.client.GET('/api/v1/me'));
    ctx.out.result(me, () => `${me.authenticatedBy.type === 'api_key' ? me.authenticatedBy.name : me.user.email}: ${me.role} in ${me.organization.name} at ${api.settings.url}`);
    return EXIT.ok;
  },
};
