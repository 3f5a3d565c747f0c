import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
    pool: 'forks',
    watch: false,
    // vitest's summary, then one plain closing line (test/closing-line.ts).
    reporters: ['default', './test/closing-line.ts'],
    // Servers bind ports and the fd-leak test reads /proc/self/fd: each file
    // runs in its own process; files may run in parallel.
    isolate: true,
  },
});
