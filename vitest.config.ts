import { defineConfig } from 'vitest/config';

const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

// Two projects: pure code runs anywhere; adapters and end-to-end tests get the real local stack (registries, moto, crane).
export default defineConfig({
  test: {
    projects: [
      // groupOrder: the unit project (which packages with serverless into .esbuild/) finishes before
      // the stack project starts serverless-offline, which builds into the same folder.
      { test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.stack.test.ts'], env, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'stack',
          include: ['test/**/*.stack.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          env,
        },
      },
    ],
  },
});
