// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'results/', 'coverage/', 'fixtures/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Models stay pure: no I/O, threads or console (see DESIGN.md).
    files: ['src/hash/**', 'src/conntrack/**', 'src/rules/**', 'src/shaper/**', 'src/cores/**'],
    rules: {
      'no-console': 'error',
      'no-restricted-imports': ['error', {
        paths: ['node:fs', 'fs', 'node:fs/promises', 'node:worker_threads', 'worker_threads', 'node:child_process'],
        patterns: ['**/harness/**', '**/cli/**', '**/results/**', '**/lab/**'],
      }],
    },
  },
);
