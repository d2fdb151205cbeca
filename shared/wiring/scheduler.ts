import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SchedulerConfig } from '../config/scheduler-config.ts';
import { LambdaWorkerInvoker } from '../lambda/worker-invoker.ts';
import { PowertoolsScheduleRecorder } from '../observability/powertools.ts';
import type { Octokit } from 'octokit';
import { GitHubDockerfileSource, type GitHubSourceOptions } from '../source/github.ts';
import { resolveCommit } from '../source/github-files.ts';
import { GitHubPolicyFileReader } from '../source/github-policy-files.ts';
import type { Plan } from '../plan/plan.ts';
import { findOrphans } from '../sync/orphans.ts';
import type { ImagesTree, ScheduleDeps } from '../sync/schedule.ts';
import { ecrRepositoryStore, isEcrTarget } from './ecr.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { imagesTreeOf, lazyGitHub } from './github.ts';
import { createTelemetry } from './telemetry.ts';

/** The scheduler's adapters: GitHub (token from Secrets Manager, read on first use) for Dockerfiles and the signature policy, the Lambda invoker. */
export function createSchedulerDeps(config: SchedulerConfig, telemetry = createTelemetry()): ScheduleDeps & { metrics: Metrics; logger: Logger } {
  // No time limit per request: a large tree's listing may be slow, and the run has the whole Lambda timeout.
  const github = lazyGitHub(config, (octokit) => octokit);
  // An ECR target: each run also reports the repositories no Dockerfile names any more.
  const store = isEcrTarget(config) ? ecrRepositoryStore({ target: config.target, ...(config.region ? { region: config.region } : {}) }) : undefined;
  return {
    tree: async () => pinnedTree(await github(), imagesTreeOf(config)),
    ...(store ? { orphans: (plan: Plan) => findOrphans(plan, store, { target: config.target, nameTemplate: config.nameTemplate, allowRegistries: config.allowRegistries }) } : {}),
    invoker: new LambdaWorkerInvoker(new LambdaClient({ ...AWS_CLIENT_SETTINGS }), config.workerFunctionName),
    recorder: new PowertoolsScheduleRecorder(telemetry.logger, telemetry.metrics),
    ...telemetry,
  };
}

/**
 * The images tree of one run: the ref (GITHUB_REF, else the default branch) resolved to a commit once, the Dockerfiles
 * and the policy's files then read at that sha, with the same client (and token). A push during the run changes nothing
 * of what it reads.
 */
async function pinnedTree(octokit: Octokit, where: GitHubSourceOptions): Promise<ImagesTree> {
  const pinned = { ...where, ref: await resolveCommit(octokit, where) };
  return { source: new GitHubDockerfileSource(octokit, pinned), policy: new GitHubPolicyFileReader(octokit, pinned).reader };
}
