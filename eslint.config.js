// ESLint flat config: typescript-eslint with type information, import-cycle checks, and the
// deterministic-zone rules for packages/raft (no clock, no randomness, no timers, no Node globals).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const nondeterministicGlobals = [
  'Date',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'performance',
  'process',
  'Buffer',
  'require',
  'global',
  'globalThis',
  'crypto',
  'fetch',
  '__dirname',
  '__filename',
].map((name) => ({ name, message: 'packages/raft is deterministic: time, randomness and I/O are handed in.' }));

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.kalam/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'bin/*', 'scripts/*.mjs', 'bench/*/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: {
        console: 'readonly',
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      // node:test's test() and describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    files: ['packages/raft/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', ...nondeterministicGlobals],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use the seeded Prng handed in through the config.' },
      ],
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'path', 'os', 'crypto', 'events', 'timers'] }],
    },
  },
  {
    // @kalam/client runs in browsers: no Node module may be imported (websocket.ts loads `ws` by a variable name).
    files: ['packages/client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['node:*', 'ws', 'fs', 'path', 'os', 'crypto', 'events', 'timers', 'http', 'https', 'net'] },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'require', '__dirname', '__filename'].map((name) => ({
          name,
          message: '@kalam/client runs in browsers: no Node globals.',
        })),
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', 'bin/kalam'],
    ...tseslint.configs.disableTypeChecked,
  },
);
