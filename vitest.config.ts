import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites share the local PostgreSQL/Redis/RabbitMQ; forks keep native handles isolated.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
