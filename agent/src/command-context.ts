import type { Logger } from './log';

interface Sink {
  write(chunk: string): unknown;
}

/** What a command may touch of the outside world; tests pass their own. */
export interface CommandContext {
  stdout: Sink;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  cwd: string;
  home: string;
  isRoot: boolean;
  /** The system-wide policy file; tests point it somewhere harmless. */
  systemPolicyPath?: string;
}
