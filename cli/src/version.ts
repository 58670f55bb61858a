/** The CLI's version: the package's, checked by cli/build.mjs. */
export const CLI_VERSION = '0.1.0';
