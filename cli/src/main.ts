import { Api, ApiError, ConnectionError } from './api';
import { Flags, type FlagSpec, parseArgs, UsageError } from './args';
import { type Command, type Context, EXIT } from './command';
import { agentsApprove, agentsList, agentsRevoke } from './commands/agents';
import { completion } from './commands/completion';
import { get, setOutput } from './commands/job';
import { login, logout, whoami } from './commands/login';
import { deploymentsList, deploymentsShow, releaseCreate, releaseDeploy, releaseList } from './commands/releases';
import { run } from './commands/run';
import { Output } from './output';
import { resolveConnection } from './settings';
import { CLI_VERSION } from './version';

const GLOBAL_FLAGS: Record<string, FlagSpec> = { output: { value: true }, url: { value: true }, 'ca-file': { value: true }, help: {} };

const COMMANDS: Command[] = [
  releaseCreate,
  releaseList,
  releaseDeploy,
  deploymentsList,
  deploymentsShow,
  run,
  agentsList,
  agentsApprove,
  agentsRevoke,
  login,
  logout,
  whoami,
  get,
  setOutput,
  completion(() => COMMANDS.map((c) => ({ path: c.path, flags: Object.keys(c.flags) }))),
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(' ').length));
  return `corral ${CLI_VERSION}: the Corral command line, for people and pipelines.

Usage: corral COMMAND [options]

${COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --output text|json (json: one document on stdout), --url URL, --ca-file FILE.
The server and key come from CORRAL_URL and CORRAL_API_KEY, else from corral login.
HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured. Exit codes: 0 done, 1 the deployment or
script did not succeed, 2 the command was called wrongly, 3 the server refused or was not reached.
corral COMMAND --help tells more.`;
}

/** The command whose words start argv, longest first; `help X` reads as `X --help`. */
function find(argv: string[]): { command: Command | undefined; args: string[]; help: boolean } {
  let help = false;
  if (argv[0] === 'help') {
    argv = argv.slice(1);
    help = true;
  }
  const words = argv.slice(0, 2);
  const command = [...COMMANDS].sort((a, b) => b.path.length - a.path.length).find((c) => c.path.every((w, i) => words[i] === w));
  return { command, args: command ? argv.slice(command.path.length) : argv, help: help || !command };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === '--version' || argv[0] === 'version') {
    process.stdout.write(`corral ${CLI_VERSION}\n`);
    return EXIT.ok;
  }
  const { command, args, help } = find(argv);
  if (!command) {
    const asked = argv
      .filter((a) => a !== 'help' && !a.startsWith('-'))
      .slice(0, 2)
      .join(' ');
    if (asked) {
      process.stderr.write(`corral: no command "${asked}"\n\n${overview()}\n`);
      return EXIT.usage;
    }
    process.stdout.write(`${overview()}\n`);
    return argv.length && !help ? EXIT.usage : EXIT.ok;
  }
  let api: Api | undefined;
  try {
    const parsed = parseArgs(args, { ...GLOBAL_FLAGS, ...command.flags });
    const flags = new Flags(parsed);
    if (help || flags.has('help')) {
      process.stdout.write(`Usage: ${command.usage}\n\n${command.summary}\n`);
      return EXIT.ok;
    }
    const out = new Output(Output.parse(flags.string('output')));
    const ctx: Context = {
      flags,
      words: parsed.words,
      rest: parsed.rest,
      out,
      env,
      api: () => (api ??= new Api(resolveConnection({ url: flags.string('url'), caFile: flags.string('ca-file') }, env))),
    };
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`corral: ${err.message}\nUsage: ${command.usage}\n`);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      process.stderr.write(`corral: ${err.message} (${err.code}, HTTP ${err.status})\n`);
      return EXIT.refused;
    }
    if (err instanceof ConnectionError) {
      process.stderr.write(`corral: ${err.message}\n`);
      return EXIT.refused;
    }
    throw err;
  } finally {
    api?.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`corral: unexpected error: ${err.stack ?? err.message}\n`);
      process.exitCode = 70;
    },
  );
}
