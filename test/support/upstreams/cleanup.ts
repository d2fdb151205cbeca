import { afterEach } from 'vitest';

/**
 * What each test of a suite starts, undone after it: `started(server)` closes a server and hands it back; `later(step)`
 * runs any other clean-up (a temporary directory). Call once in a `describe`.
 */
export function cleanedAfterEach() {
  const steps: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await Promise.all(steps.splice(0).map((step) => step()));
  });
  return {
    started: <T extends { close(): Promise<void> }>(server: T): T => {
      steps.push(() => server.close());
      return server;
    },
    later: (step: () => Promise<unknown>): void => void steps.push(step),
  };
}
