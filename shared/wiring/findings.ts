import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { Octokit } from 'octokit';
import type { FindingsConfig, FindingsGitHubConfig } from '../config/findings-config.ts';
import { EcrScanFindingsReader } from '../ecr/scan-findings.ts';
import type { AcceptanceDeps } from '../findings/acceptance.ts';
import type { ScanEventDeps } from '../findings/scan-event.ts';
import { PowertoolsScanRecorder } from '../observability/scan-recorder.ts';
import { CachedSecret, githubToken } from '../secrets/secrets-manager.ts';
import { GitHubDockerfileSource } from '../source/github.ts';
import { GitHubSignOffReader } from '../source/github-sign-offs.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { createTelemetry } from './telemetry.ts';

/**
 * Each GitHub call's time limit, as AWS_CLIENT_SETTINGS bounds the SDK's: the function has 60 s for the token, the
 * tree, the Dockerfiles, the sign-off files and the findings, and a call that hangs must end as an error in the log
 * line (judged as failed closed), not as a function timeout with no line at all.
 */
const GITHUB_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The findings function's adapters: the Powertools recorder and, when an images repository is configured, what judges
 * findings against its sign-offs (ECR's findings, the tree and sign-off files on GitHub with the token from Secrets
 * Manager, read on first use).
 */
export function createFindingsDeps(config: FindingsConfig, telemetry = createTelemetry()): ScanEventDeps & { metrics: Metrics; logger: Logger } {
  const recorder = new PowertoolsScanRecorder(telemetry.logger, telemetry.metrics);
  return { recorder, ...(config.github ? { acceptance: githubAcceptance(config.github) } : {}), ...telemetry };
}

function githubAcceptance(github: FindingsGitHubConfig): AcceptanceDeps {
  const secret = github.githubTokenSecretId === undefined ? undefined : new CachedSecret(new SecretsManagerClient({ ...AWS_CLIENT_SETTINGS }), github.githubTokenSecretId);
  const where = { owner: github.owner, repo: github.repo, path: github.imagesPath, ...(github.ref ? { ref: github.ref } : {}) };
  let adapters: Promise<{ source: GitHubDockerfileSource; signOffs: GitHubSignOffReader }> | undefined;
  // Built on first use, since the token is a Secrets Manager call; a failure is not kept, so the next event tries again.
  const load = () =>
    (adapters ??= (async () => {
      const auth = secret ? await githubToken(secret) : undefined;
      // No retries and no throttling sleeps, as in the scheduler: the function fails closed and the next scan is judged anew.
      const octokit = new Octokit({ baseUrl: github.githubApiUrl, ...(auth ? { auth } : {}), request: { retries: 0, fetch: timedFetch }, throttle: { enabled: false } });
      return { source: new GitHubDockerfileSource(octokit, where), signOffs: new GitHubSignOffReader(octokit, where) };
    })().catch((error: unknown) => {
      adapters = undefined;
      throw error;
    }));
  return {
    findings: new EcrScanFindingsReader(new ECRClient({ ...AWS_CLIENT_SETTINGS })),
    source: { list: async () => (await load()).source.list() },
    signOffs: { read: async (dockerfilePath) => (await load()).signOffs.read(dockerfilePath) },
  };
}

/** fetch with each request bounded in time, the caller's own signal kept. */
function timedFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const timeout = AbortSignal.timeout(GITHUB_REQUEST_TIMEOUT_MS);
  return fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
}
