import type { Api } from './api';
import type { FlagSpec, Flags } from './args';
import type { Output } from './output';

/** Exit codes, as a pipeline reads them (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** The deployment or the script ran and did not succeed (failed, cancelled, timed out). */
  failed: 1,
  /** The command was called wrongly: the message says how to call it. */
  usage: 2,
  /** The server refused the request, or could not be reached. */
  refused: 3,
} as const;

export interface Context {
  flags: Flags;
  words: string[];
  /** What followed `--`. */
  rest: string[];
  out: Output;
  /** The API, connected on first use (commands like `completion` never need it). */
  api(): Api;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** The words that name it: `['release', 'deploy']`. */
  path: string[];
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  run(ctx: Context): Promise<number>;
}
