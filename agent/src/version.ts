/** The agent's version, reported in every hello; kept equal to agent/package.json by the build. */
export const AGENT_VERSION = '0.1.0';
