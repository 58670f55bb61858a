import { NODE_SCRIPT_COMMAND, nodeInterpreter } from './node-script';

describe('the node interpreter of jobs', () => {
  it('is this Node.js itself from the plain bundle, and the agent with its node-script command in the single executable', () => {
    expect(nodeInterpreter(false)).toEqual({ command: process.execPath, args: [] });
    expect(nodeInterpreter(true)).toEqual({ command: process.execPath, args: [NODE_SCRIPT_COMMAND] });
  });
});
