import eslint from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

// ---------------------------------------------------------------------------------------------
// Module boundaries (see "Dependency direction" in the architecture notes).
//
// Each boundary is its own rule of the local `boundaries` plugin: `no-restricted-imports` options
// set in one block replace those of another, so a file under two boundaries (a controller in
// src/tasks/) would silently keep only one of them; and its patterns match the import text,
// which cannot tell agent/src/ from the server's src/. These rules resolve every relative import
// against the importing file and judge the path it lands on.
// ---------------------------------------------------------------------------------------------

const ROOT = path.dirname(fileURLToPath(import.meta.url));
const FEATURE_MODULES = ['agents', 'tasks', 'auth', 'orgs', 'audit', 'nodes', 'console', 'health', 'metrics', 'deployments', 'variables', 'tenants', 'workers', 'health-checks', 'cluster'];
const DOMAIN_MODULES = ['deployments', 'variables', 'tenants', 'workers', 'health-checks'];

const within = (target, dir) => target === dir || target.startsWith(`${dir}/`);
// `src/<module>` the target belongs to when it is one of `modules`.
const moduleOf = (target, modules) => modules.find((m) => within(target, `src/${m}`));

/**
 * The repository-relative path an import lands on (extension dropped, `/` separators), or null
 * for a package or node: built-in. A bare `src/...` is read as the repository's own src/.
 */
function resolveTarget(filename, spec) {
  let abs;
  if (spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..') abs = path.resolve(path.dirname(filename), spec);
  else if (/^src(\/|$)/.test(spec)) abs = path.join(ROOT, spec);
  else return null;
  const target = path.relative(ROOT, abs).split(path.sep).join('/');
  return target.replace(/\.(?:[cm]?[jt]sx?)$/, '');
}

/** A rule reporting each import (static, dynamic, require, re-export, `import('…')` types) that `check` rejects. */
function importBoundary(description, messages, check) {
  return {
    meta: { type: 'problem', docs: { description }, messages, schema: [] },
    create(context) {
      const filename = context.filename;
      const judge = (source, typeOnly) => {
        if (!source || typeof source.value !== 'string') return;
        const spec = source.value;
        const target = resolveTarget(filename, spec);
        const verdict = check({ spec, target, typeOnly });
        if (verdict) context.report({ node: source, messageId: verdict.messageId, data: { spec, target: target ?? spec, module: verdict.module ?? '' } });
      };
      return {
        ImportDeclaration: (n) => judge(n.source, n.importKind === 'type'),
        ExportNamedDeclaration: (n) => judge(n.source, n.exportKind === 'type'),
        ExportAllDeclaration: (n) => judge(n.source, n.exportKind === 'type'),
        ImportExpression: (n) => judge(n.source, false),
        TSImportType: (n) => judge(n.source ?? n.argument?.literal, true),
        TSImportEqualsDeclaration: (n) => n.moduleReference.type === 'TSExternalModuleReference' && judge(n.moduleReference.expression, n.importKind === 'type'),
        CallExpression: (n) => n.callee.type === 'Identifier' && n.callee.name === 'require' && judge(n.arguments[0], false),
      };
    },
  };
}

const boundaries = {
  rules: {
    'protocol-standalone': importBoundary(
      'src/protocol/ imports nothing from the project outside itself',
      {
        outside:
          "Boundary src/protocol/ → project: '{{spec}}' resolves to '{{target}}'. The protocol is the agent⇄server contract that agent/ bundles into its one file, so it depends on nothing else in the project (third-party packages and node: built-ins only). Move what it needs into src/protocol/.",
      },
      ({ target }) => (target !== null && !within(target, 'src/protocol') ? { messageId: 'outside' } : null),
    ),
    'agent-protocol-only': importBoundary(
      'agent/ imports only src/protocol/ from the server tree',
      {
        server:
          "Boundary agent/ → server: '{{spec}}' resolves to '{{target}}'. The agent runs on customers' servers as one standalone file and shares only the wire contract with the control plane, so from src/ it may import src/protocol/ alone. Move the shared piece into src/protocol/ or keep an agent-side copy.",
      },
      ({ target }) => (target !== null && within(target, 'src') && !within(target, 'src/protocol') ? { messageId: 'server' } : null),
    ),
    'cli-standalone': importBoundary(
      'cli/ imports from the project only src/protocol/ and agent/src/',
      {
        server:
          "Boundary cli/ → server: '{{spec}}' resolves to '{{target}}'. The CLI is one standalone file a pipeline runs, talking to the control plane over its public API; from the project it may import only src/protocol/ and the agent's plumbing in agent/src/ (proxies, CA bundles, the job helper's files). Use the API instead.",
      },
      ({ target }) => (target !== null && !within(target, 'cli') && !within(target, 'src/protocol') && !within(target, 'agent/src') ? { messageId: 'server' } : null),
    ),
    'database-no-features': importBoundary(
      'src/database/ imports no feature module',
      {
        feature:
          "Boundary src/database/ → feature module src/{{module}}/: '{{spec}}' resolves to '{{target}}'. The database layer sits under every feature (controllers → services → repositories → database) and is shared with the migration CLI, so it knows no feature module; let the feature register with it, or find files by name as entities and migrations are.",
      },
      ({ target }) => {
        const module = target === null ? undefined : moduleOf(target, FEATURE_MODULES);
        return module ? { messageId: 'feature', module } : null;
      },
    ),
    'adapters-no-data-access': importBoundary(
      'controllers and gateways import no repository and no TypeORM',
      {
        repository:
          "Layering (controller/gateway → repository): '{{spec}}' resolves to '{{target}}'. Controllers and gateways are adapters: they call a service, which holds the rules and calls the repository; add a service method instead.",
        typeorm:
          "Layering (controller/gateway → TypeORM): '{{spec}}'. Controllers and gateways are adapters and never touch the database; queries belong in a repository, reached through a service.",
      },
      ({ spec, target }) => {
        if (target !== null) return /\.repository$/.test(target) ? { messageId: 'repository' } : null;
        return /^(?:typeorm|@nestjs\/typeorm)(?:\/|$)/.test(spec) ? { messageId: 'typeorm' } : null;
      },
    ),
    'repositories-no-upper-layers': importBoundary(
      'repositories import no service, controller or gateway',
      {
        upper:
          "Layering (repository → service/controller/gateway): '{{spec}}' resolves to '{{target}}'. Dependencies run controllers → services → repositories → database; a repository only queries and must not reach back up. Move the shared type or constant down (next to the entity or into the repository).",
      },
      ({ target }) => (target !== null && /\.(?:service|controller|gateway)$/.test(target) ? { messageId: 'upper' } : null),
    ),
    'tasks-no-domain-modules': importBoundary(
      'src/tasks/ imports no domain module',
      {
        domain:
          "Boundary src/tasks/ → domain module src/{{module}}/: '{{spec}}' resolves to '{{target}}'. The task engine is what domain modules build on; it depends on none of them, so they can change without touching the engine. Expose a hook or an interface in src/tasks/ and let the domain module implement it.",
      },
      ({ target }) => {
        const module = target === null ? undefined : moduleOf(target, DOMAIN_MODULES);
        return module ? { messageId: 'domain', module } : null;
      },
    ),
    'console-server-types-only': importBoundary(
      'the console imports from src/ only types, and only public ones',
      {
        value:
          "Boundary console/ → server: '{{spec}}' must be an `import type`. The console is bundled for the browser; a value import would ship control-plane code (and its Node dependencies) to it.",
        internal:
          "Boundary console/ → server: '{{spec}}' resolves to '{{target}}', which is server-internal. The console may import types only from the server's public shapes: src/protocol/, src/orgs/roles*, src/tasks/task-states* or a src/**/*.view.ts file.",
      },
      ({ target, typeOnly }) => {
        if (target === null || !within(target, 'src')) return null;
        if (!typeOnly) return { messageId: 'value' };
        const isPublic = within(target, 'src/protocol') || /^src\/orgs\/roles[^/]*$/.test(target) || /^src\/tasks\/task-states[^/]*$/.test(target) || /^src\/.+\.view$/.test(target);
        return isPublic ? null : { messageId: 'internal' };
      },
    ),
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'console/dist/', 'agent/dist/', 'cli/dist/', 'bench/dist/', 'node_modules/', 'coverage/', '.corral/', 'test-artifacts/', 'src/protocol/api-schema.ts'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Test helpers parse arbitrary JSON responses.
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.spec.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The web console runs in the browser.
    files: ['console/**/*.{ts,tsx,mts}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: { ...reactHooks.configs.recommended.rules },
  },

  // Module boundaries: one block per boundary, so a temporary exception stays next to its rule.
  { plugins: { boundaries } },
  {
    files: ['src/protocol/**'],
    rules: { 'boundaries/protocol-standalone': 'error' },
  },
  {
    files: ['agent/**'],
    rules: { 'boundaries/agent-protocol-only': 'error' },
  },
  {
    files: ['cli/**'],
    rules: { 'boundaries/cli-standalone': 'error' },
  },
  {
    files: ['src/database/**'],
    rules: { 'boundaries/database-no-features': 'error' },
  },
  {
    files: ['**/*.controller.ts', '**/*.gateway.ts'],
    rules: { 'boundaries/adapters-no-data-access': 'error' },
  },
  {
    files: ['**/*.repository.ts'],
    rules: { 'boundaries/repositories-no-upper-layers': 'error' },
  },
  {
    files: ['src/tasks/**'],
    rules: { 'boundaries/tasks-no-domain-modules': 'error' },
  },
  {
    files: ['console/src/**'],
    rules: { 'boundaries/console-server-types-only': 'error' },
  },
);
