import type { Octokit } from 'octokit';
import { afterEach, expect } from 'vitest';
import { GitHubSourceError } from '../../shared/errors.ts';
import { githubClient } from '../../shared/wiring/github.ts';
import { type FakeGitHub, type FakeGitHubOptions, startFakeGitHub } from './fake-github.ts';

// Apart from fake-github.ts, which the benchmark imports too: this one registers vitest hooks.
/**
 * For a test file of a GitHub adapter: `start` runs a fake GitHub taking `token` (closed after each test), `octokit`
 * is a client of it built as the Lambdas build theirs (githubClient), and `failureOf` awaits the GitHubSourceError a
 * call must end in.
 */
export function fakeGitHubPerTest(token: string): {
  start: (options: FakeGitHubOptions) => Promise<FakeGitHub>;
  octokit: (github: FakeGitHub, auth?: string) => Octokit;
  failureOf: (promise: Promise<unknown>) => Promise<GitHubSourceError>;
} {
  let fake: FakeGitHub | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  return {
    start: async (options) => (fake = await startFakeGitHub({ token, ...options })),
    octokit: (github, auth = token) => githubClient({ baseUrl: github.url, auth }),
    failureOf: async (promise) => {
      const error = await promise.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(GitHubSourceError);
      return error as GitHubSourceError;
    },
  };
}
