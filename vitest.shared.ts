// The test settings every package uses (each package's vitest.config.ts passes
// them to defineConfig): engine tests load models and worker threads, so files
// run one at a time in forked processes with long timeouts.
export default {
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks" as const,
    fileParallelism: false,
  },
};
