import { ECRClient } from '@aws-sdk/client-ecr';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { FindingsConfig, FindingsGitHubConfig } from '../config/findings-config.ts';
import { EcrScanFindingsReader } from '../ecr/scan-findings.ts';
import type { AcceptanceDeps } from '../findings/acceptance.ts';
import type { ScanEventDeps } from '../findings/scan-event.ts';
import { PowertoolsScanRecorder } from '../observability/scan-recorder.ts';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { DockerfileSource, SignOffReader } from '../ports.ts';
import { GitHubDockerfileSource } from '../source/github.ts';
import { GitHubSignOffReader } from '../source/github-sign-offs.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { imagesTreeOf, lazyGitHub } from './github.ts';
import { createTelemetry } from './telemetry.ts';

/**
 * Each GitHub call's time limit, as AWS_CLIENT_SETTINGS bounds the SDK's: a call that hangs ends as an error, judged
 * as failed closed, and frees the event for the next call. The whole judging is bounded as well (JUDGE_DEADLINE_MS in
 * shared/findings/scan-event.ts), since several slow calls could still reach the function's 60 s timeout.
 */
const GITHUB_REQUEST_TIMEOUT_MS = 10_000;

/**
 * How long a warm container keeps the images tree's listing and each sign-off file it read. A first sync of 500
 * multi-arch images sends ~1,500 scan events within minutes, and each would otherwise list the whole tree again (the
 * default branch, the tree, one GraphQL query per 100 Dockerfiles) and read its sign-off file: thousands of calls
 * against GitHub's 5,000 an hour. Short, because a change to a sign-off file (or a Dockerfile) counts only once its
 * entry is dropped, at most this long after the merge; `expired_at` is still compared with each event's own time.
 * Kept per container, not made one container for all events by reserved concurrency: new accounts have a quota of 10
 * and Lambda refuses a reservation that leaves fewer than 10 unreserved (see WorkerReservedConcurrency).
 * GitHub calls per event with a warm cache: 1 sign-off read per new path, 0 when cached (plus ECR's findings, 1 call).
 */
export const GITHUB_CACHE_MS = 5 * 60_000;

/**
 * The findings function's adapters: the Powertools recorder and, when an images repository is configured, what judges
 * findings against its sign-offs (ECR's findings, the tree and sign-off files on GitHub with the token from Secrets
 * Manager, read on first use, kept for GITHUB_CACHE_MS).
 */
export function createFindingsDeps(config: FindingsConfig, telemetry = createTelemetry()): ScanEventDeps & { metrics: Metrics; logger: Logger } {
  const recorder = new PowertoolsScanRecorder(telemetry.logger, telemetry.metrics);
  return { recorder, ...(config.github ? { acceptance: githubAcceptance(config.github) } : {}), ...telemetry };
}

/** What the cached images tree keeps and for how long; the clock is for tests. */
export interface ImagesTreeCacheOptions {
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/**
 * The images tree's listing and its sign-off files (by path), each kept for `ttlMs` from when it was asked for. Events
 * asking while a read is under way share it; a read that fails is dropped, so that the next event asks again.
 */
export function cachedImagesTree(tree: { readonly source: DockerfileSource; readonly signOffs: SignOffReader }, options: ImagesTreeCacheOptions = {}): { source: DockerfileSource; signOffs: SignOffReader } {
  const cache = new ExpiringCache(options.ttlMs ?? GITHUB_CACHE_MS, options.now ?? Date.now);
  return {
    source: { list: () => cache.get('list', () => tree.source.list()) },
    // Keyed by the sign-off file, which the Dockerfiles of one directory share.
    signOffs: { read: (dockerfilePath) => cache.get(`read ${signOffPathFor(dockerfilePath)}`, () => tree.signOffs.read(dockerfilePath)) },
  };
}

function githubAcceptance(github: FindingsGitHubConfig): AcceptanceDeps {
  const where = imagesTreeOf(github);
  const adapters = lazyGitHub(github, (octokit) => ({ source: new GitHubDockerfileSource(octokit, where), signOffs: new GitHubSignOffReader(octokit, where) }), {
    requestTimeoutMs: GITHUB_REQUEST_TIMEOUT_MS,
  });
  const tree = cachedImagesTree({
    source: { list: async () => (await adapters()).source.list() },
    signOffs: { read: async (dockerfilePath) => (await adapters()).signOffs.read(dockerfilePath) },
  });
  return { findings: new EcrScanFindingsReader(new ECRClient({ ...AWS_CLIENT_SETTINGS })), ...tree };
}

/** Promises by key, each kept until `ttlMs` after it was made, or until it fails. */
class ExpiringCache {
  private readonly entries = new Map<string, { readonly value: Promise<unknown>; readonly expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const kept = this.entries.get(key);
    if (kept !== undefined && kept.expiresAt > now) return kept.value as Promise<T>;
    // Entries of paths no longer asked for go too, so that the map stays as small as what a few minutes read.
    for (const [other, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(other);
    const value = load();
    const entry = { value, expiresAt: now + this.ttlMs };
    this.entries.set(key, entry);
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return value;
  }
}
