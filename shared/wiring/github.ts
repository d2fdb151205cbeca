import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Octokit } from 'octokit';
import type { GitHubConfig } from '../config/github-config.ts';
import { CachedSecret, githubToken } from '../secrets/secrets-manager.ts';
import type { GitHubSourceOptions } from '../source/github.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';

export interface LazyGitHubOptions {
  /** Each GitHub request's time limit; none when absent. */
  readonly requestTimeoutMs?: number;
}

/**
 * What reads the images repository, built on first use with an Octokit holding the token from Secrets Manager (none
 * for a public repository): the token is a call, never made at cold start. A failure is not kept, so the next use
 * tries again. No retries and no throttling sleeps: the throttling plugin would sleep until a rate limit resets (up to
 * an hour, past any Lambda timeout), and the next run, or the next scan, tries anew.
 */
export function lazyGitHub<T>(config: GitHubConfig, build: (octokit: Octokit) => T, options: LazyGitHubOptions = {}): () => Promise<T> {
  const secret = config.githubTokenSecretId === undefined ? undefined : new CachedSecret(new SecretsManagerClient({ ...AWS_CLIENT_SETTINGS }), config.githubTokenSecretId);
  const { requestTimeoutMs } = options;
  let built: Promise<T> | undefined;
  return () =>
    (built ??= (async () => {
      const auth = secret ? await githubToken(secret) : undefined;
      return build(githubClient({ baseUrl: config.githubApiUrl, ...(auth ? { auth } : {}), ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }) }));
    })().catch((error: unknown) => {
      built = undefined;
      throw error;
    }));
}

/**
 * The Octokit the Lambdas read GitHub with: no retries, no throttling sleeps (see lazyGitHub), and each request
 * bounded in time when asked.
 */
export function githubClient(options: { readonly baseUrl: string; readonly auth?: string; readonly requestTimeoutMs?: number }): Octokit {
  const { baseUrl, auth, requestTimeoutMs } = options;
  const request = { retries: 0, ...(requestTimeoutMs === undefined ? {} : { fetch: timedFetch(requestTimeoutMs) }) };
  return new Octokit({ baseUrl, ...(auth ? { auth } : {}), request, throttle: { enabled: false } });
}

/** Where the images tree is in the repository, as the GitHub adapters take it. */
export function imagesTreeOf(config: GitHubConfig): GitHubSourceOptions {
  return { owner: config.owner, repo: config.repo, path: config.imagesPath, ...(config.ref ? { ref: config.ref } : {}) };
}

/** fetch with each request bounded in time, the caller's own signal kept. */
function timedFetch(timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    return fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
  };
}
