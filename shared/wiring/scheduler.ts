import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SchedulerConfig } from '../config/scheduler-config.ts';
import { LambdaWorkerInvoker } from '../lambda/worker-invoker.ts';
import { PowertoolsScheduleRecorder } from '../observability/powertools.ts';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { GitHubDockerfileSource } from '../source/github.ts';
import type { Plan } from '../plan/plan.ts';
import { findOrphans } from '../sync/orphans.ts';
import type { ScheduleDeps } from '../sync/schedule.ts';
import { ecrRepositoryStore, isEcrTarget } from './ecr.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { imagesTreeOf, lazyGitHub } from './github.ts';
import { createTelemetry } from './telemetry.ts';

/** The scheduler's adapters: GitHub (token from Secrets Manager, read on first use), the Lambda invoker. */
export function createSchedulerDeps(config: SchedulerConfig, telemetry = createTelemetry()): ScheduleDeps & { metrics: Metrics; logger: Logger } {
  // No time limit per request: a large tree's listing may be slow, and the run has the whole Lambda timeout.
  const source = lazyGitHub(config, (octokit) => new GitHubDockerfileSource(octokit, imagesTreeOf(config)));
  const lazySource: DockerfileSource = { list: async (): Promise<DockerfileEntry[]> => (await source()).list() };
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
