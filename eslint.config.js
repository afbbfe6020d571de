// ESLint for the whole repository: correctness and structure only; layout is Prettier's (.prettierrc.json).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// Test files and test helpers: vitest files, and the helpers and shared suites under testing/ folders.
const testFiles = ['**/*.test.ts', '**/testing/**', 'test/**'];

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', 'test-results/', '.tmp/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig that compiles it (web/src, web's node tests, k8s have their own);
        // files no tsconfig lists (the build and test configs, the fixture generator) use the root options.
        projectService: {
          allowDefaultProject: [
            '*.js',
            '*.ts',
            'bin/*.js',
            'bench/ticks/*.mjs',
            'bench/marketday/*.mjs',
            'bench/conns/*.mjs',
            'web/*.mjs',
            'web/*.test.ts',
            'fixtures/*.ts',
          ],
          defaultProject: 'tsconfig.json',
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Sources import siblings as `./x.js` (NodeNext); the resolver maps that back to `./x.ts`.
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      complexity: ['error', 15],
      'max-depth': ['error', 4],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
      // An async method without await is how a memory implementation or a fastify plugin keeps a
      // Promise-returning contract; flagging it would push code towards Promise.resolve noise.
      '@typescript-eslint/require-await': 'off',
      // `const { symbol: _symbol, ...rest } = tick` is how a field is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // A `describe` callback only groups tests (and the helpers they share), so it may be longer than
    // 60 lines; ESLint cannot tell it from other functions, so the bound is off here and
    // test/architecture.test.ts holds every other function of test code (an `it`, a shared suite, a
    // helper) to the same 60 lines as production code. Complexity and depth still apply.
    files: testFiles,
    rules: {
      'max-lines-per-function': 'off',
      // vitest's asymmetric matchers (`expect.any(Number)`) and parsed JSON bodies are `any` by design;
      // in a test the expectation that follows is the check.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bin, bench drivers, the page build script) has no types to check.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'Buffer',
          'TextEncoder',
          'URL',
          'clearInterval',
          'clearTimeout',
          'console',
          'fetch',
          'process',
          'setImmediate',
          'setInterval',
          'setTimeout',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
