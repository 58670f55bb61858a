import { homedir } from 'node:os';
import { helpText, parseCommandLine, UsageError, type CliFlags, type Command } from './cli';
import type { CommandContext } from './command-context';
import { resolveLogFormat } from './config';
import { doctor } from './doctor';
import { enroll, formatEnrollment } from './enroll';
import { AgentError, ConfigError, EXIT_CODES, messageOf } from './errors';
import { LineLogger, parseLogLevel } from './log';
import { NODE_SCRIPT_COMMAND, runNodeScript } from './node-script';
import { runAgent, shutdownBudgetMs } from './run';
import { statusReport } from './status-report';
import { AGENT_VERSION } from './version';

// After SIGTERM the agent lets running jobs end (or cancels them), reports and closes its
// connection; if that hangs, it leaves anyway.
const SHUTDOWN_DEADLINE_MS = shutdownBudgetMs();

async function dispatch(command: Command, flags: CliFlags, ctx: CommandContext): Promise<number> {
  switch (command) {
    case 'enroll': {
      const result = await enroll(ctx, flags);
      ctx.stdout.write(formatEnrollment(result, flags.json ?? false));
      return EXIT_CODES.ok;
    }
    case 'status':
      return statusReport(ctx, flags);
    case 'doctor':
      return doctor(ctx, flags);
    case 'run': {
      const controller = new AbortController();
      const onSignal = (name: NodeJS.Signals) => {
        if (controller.signal.aborted) {
          ctx.logger.warn(`${name} again: exiting now`);
          process.exit(EXIT_CODES.ok);
        }
        ctx.logger.info(`${name} received: stopping (no new jobs; running jobs get a grace period, then are cancelled)`);
        controller.abort();
        setTimeout(() => {
          ctx.logger.warn(`the agent did not stop within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway`);
          process.exit(EXIT_CODES.ok);
        }, SHUTDOWN_DEADLINE_MS).unref();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      const outcome = await runAgent(ctx, flags, controller.signal);
      return outcome.exitCode;
    }
  }
}

/** The whole program: parse, run one command, map every failure to an exit code and one message. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`corral-agent: ${err.message}\nRun "corral-agent ${err.command ? `${err.command} ` : ''}--help" for usage.\n`);
    return EXIT_CODES.usage;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(helpText(parsed.topic));
    return EXIT_CODES.ok;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`corral-agent ${AGENT_VERSION}\n`);
    return EXIT_CODES.ok;
  }
  let logger: LineLogger;
  try {
    logger = new LineLogger(process.stderr, parseLogLevel(process.env.CORRAL_LOG_LEVEL), undefined, resolveLogFormat(parsed.flags.logFormat, process.env));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`corral-agent: ${err.message}\n`);
    return EXIT_CODES.usage;
  }
  const ctx: CommandContext = { stdout: process.stdout, logger, env: process.env, cwd: process.cwd(), home: homedir(), isRoot: process.getuid?.() === 0 };
  try {
    return await dispatch(parsed.command, parsed.flags, ctx);
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error(err.message);
      return EXIT_CODES.usage;
    }
    if (err instanceof AgentError) {
      logger.error(err.message);
      return err.exitCode;
    }
    logger.error(`unexpected failure: ${(err as { stack?: string }).stack ?? messageOf(err)}`);
    return EXIT_CODES.failure;
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  // A node job of the packaged agent (see node-script.ts): the script, not the agent, runs here.
  if (argv[0] === NODE_SCRIPT_COMMAND) runNodeScript(argv.slice(1));
  else
    void main(argv).then((code) => {
      process.exitCode = code;
      // Nothing should be left running; if something is, it must not keep a finished agent alive.
      setTimeout(() => process.exit(code), 2_000).unref();
    });
}
