// Unit tests (src/**/*.spec.ts) are pure; e2e tests (test/**/*.e2e-spec.ts) share one PostgreSQL
// started by the global setup and each get a database cloned from a migrated template. The web
// console's own tests (console/src/**/*.spec.ts[x]) run in jsdom.
const swc = ['@swc/jest', { swcrc: true }];
const swcReact = [
  '@swc/jest',
  { swcrc: false, jsc: { parser: { syntax: 'typescript', tsx: true }, transform: { react: { runtime: 'automatic' } }, target: 'es2022' }, module: { type: 'commonjs' } },
];

module.exports = {
  testTimeout: 60_000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src', '<rootDir>/agent/src', '<rootDir>/cli/src', '<rootDir>/bench'],
      testMatch: ['**/*.spec.ts'],
      transform: { '^.+\\.ts$': swc },
    },
    {
      displayName: 'console',
      testEnvironment: 'jsdom',
      roots: ['<rootDir>/console/src'],
      testMatch: ['**/*.spec.ts', '**/*.spec.tsx'],
      transform: { '^.+\\.tsx?$': swcReact },
      moduleNameMapper: { '\\.css$': '<rootDir>/console/test/style-stub.js' },
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      // NestJS 12 ships ES modules only, which jest 30 cannot require on Node 20: the medium tests
      // (test/medium/, the engine built with `new`, in-process) load it compiled to CommonJS.
      transform: { '^.+\\.ts$': swc, '/node_modules/@nestjs/.+\\.js$': swc },
      transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
