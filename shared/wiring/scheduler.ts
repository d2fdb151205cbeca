import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { Octokit } from 'octokit';
import type { SchedulerConfig } from '../config/scheduler-config.ts';
import { LambdaWorkerInvoker } from '../lambda/worker-invoker.ts';
import { PowertoolsScheduleRecorder } from '../observability/powertools.ts';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { CachedSecret, githubToken } from '../secrets/secrets-manager.ts';
import { GitHubDockerfileSource } from '../source/github.ts';
import type { Plan } from '../plan/plan.ts';
import { findOrphans } from '../sync/orphans.ts';
import type { ScheduleDeps } from '../sync/schedule.ts';
import { ecrRepositoryStore, isEcrTarget } from './ecr.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { createTelemetry } from './telemetry.ts';

/** The scheduler's adapters: GitHub (token from Secrets Manager, read on first use), the Lambda invoker. */
export function createSchedulerDeps(config: SchedulerConfig, telemetry = createTelemetry()): ScheduleDeps & { metrics: Metrics; logger: Logger } {
  const secret = config.githubTokenSecretId === undefined ? undefined : new CachedSecret(new SecretsManagerClient({ ...AWS_CLIENT_SETTINGS }), config.githubTokenSecretId);
  let source: Promise<GitHubDockerfileSource> | undefined;
  const lazySource: DockerfileSource = {
    async list(): Promise<DockerfileEntry[]> {
      source ??= (async () => {
        const auth = secret ? await githubToken(secret) : undefined;
        const octokit = new Octokit({ baseUrl: config.githubApiUrl, ...(auth ? { auth } : {}), request: { retries: 0 }, throttle: { enabled: false } });
        return new GitHubDockerfileSource(octokit, { owner: config.owner, repo: config.repo, path: config.imagesPath, ...(config.ref ? { ref: config.ref } : {}) });
      })().catch((error: unknown) => {
        source = undefined;
        throw error;
      });
      return (await source).list();
    },
  };
  // An ECR target: each run also reports the repositories no Dockerfile names any more.
  const store = isEcrTarget(config) ? ecrRepositoryStore({ target: config.target, ...(config.region ? { region: config.region } : {}) }) : undefined;
  return {
    source: lazySource,
    ...(store ? { orphans: (plan: Plan) => findOrphans(plan, store, { target: config.target, nameTemplate: config.nameTemplate, allowRegistries: config.allowRegistries }) } : {}),
    invoker: new LambdaWorkerInvoker(new LambdaClient({ ...AWS_CLIENT_SETTINGS }), config.workerFunctionName),
    recorder: new PowertoolsScheduleRecorder(telemetry.logger, telemetry.metrics),
    ...telemetry,
  };
}
