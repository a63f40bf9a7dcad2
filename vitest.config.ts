import { defineConfig } from 'vitest/config';

// Tests run against src/ directly; end-to-end tests start the built server (dist/), which
// `npm test` builds first. Worker-thread code (piscina) also loads from dist/.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: e2e tests start servers; keep the parallelism modest.
    maxWorkers: 2,
  },
});
