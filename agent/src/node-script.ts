import Module from 'node:module';
import { resolve } from 'node:path';
import { isSea } from 'node:sea';

/**
 * The packaged agent is a Node single executable: its `process.execPath` runs the agent, not
 * whatever file it is given. So a `node` job runs as `corral-agent __node-script script.js`,
 * and the agent hands the file to Node's own loader, as `node script.js` would. A script that
 * starts `process.execPath` itself (child_process.fork) gets the agent, not a plain node.
 */
export const NODE_SCRIPT_COMMAND = '__node-script';

/** How to run a node script: this very Node.js, by way of NODE_SCRIPT_COMMAND in the single executable. */
export function nodeInterpreter(singleExecutable = isSea()): { command: string; args: string[] } {
  return { command: process.execPath, args: singleExecutable ? [NODE_SCRIPT_COMMAND] : [] };
}

/** Runs `file` as the main module with `args` as its arguments; the script decides when the process ends. */
export function runNodeScript([file, ...args]: string[]): void {
  if (!file) {
    process.stderr.write(`corral-agent: ${NODE_SCRIPT_COMMAND} needs a script file\n`);
    process.exitCode = 2;
    return;
  }
  process.argv = [process.execPath, resolve(file), ...args];
  Module.runMain();
}
