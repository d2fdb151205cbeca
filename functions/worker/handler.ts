import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { loadWorkerConfig } from '../../shared/config/worker-config.ts';
import { WORKER_RETRY } from '../../shared/retry.ts';
import { runIdOf, runWorkerJob, type WorkerEvent } from '../../shared/sync/worker-job.ts';
import { createWorkerDeps } from '../../shared/wiring/worker.ts';

// Time kept back from the Lambda deadline to record the outcome and flush metrics: every request and crane stop by then.
const DEADLINE_MARGIN_MS = 15_000;

// Read once per container: a bad configuration fails the cold start, listing every problem.
const config = loadWorkerConfig(process.env);
const deps = createWorkerDeps(config);
const retry = { ...WORKER_RETRY, attempts: config.maxAttempts, baseDelayMs: config.retryDelayMs, maxDelayMs: Math.max(WORKER_RETRY.maxDelayMs, config.retryDelayMs) };

/** Mirrors one image: `{"source": "postgres:14"}`, with an optional `"target"`; the scheduler adds its `"runId"`. */
export const handler = middy((event: WorkerEvent, context: Context) => {
  // On every line of this invocation (the keys are reset after it): "what did last night's run do?" is one filter.
  const runId = runIdOf(event);
  if (runId !== undefined) deps.logger.appendKeys({ runId });
  return runWorkerJob(event, deps, config, {
    deadline: Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS,
    pullReserve: config.pullReserve,
    retry,
    copyTimeoutMs: config.copyTimeoutMs,
    bindSignal: deps.bindSignal,
  });
})
  .use(injectLambdaContext(deps.logger, { resetKeys: true }))
  .use(logMetrics(deps.metrics));
