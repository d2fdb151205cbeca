import middy from '@middy/core';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { loadWorkerConfig } from '../../shared/config/worker-config.ts';
import { runWorkerJob, type WorkerEvent } from '../../shared/sync/worker-job.ts';
import { createWorkerDeps } from '../../shared/wiring/worker.ts';

// Time kept back from the Lambda deadline to record the outcome and flush metrics.
const DEADLINE_MARGIN_MS = 15_000;

// Read once per container: a bad configuration fails the cold start, listing every problem.
const config = loadWorkerConfig(process.env);
const deps = createWorkerDeps(config);

/** Mirrors one image: `{"source": "postgres:14"}`, with an optional `"target"`. */
export const handler = middy((event: WorkerEvent, context: Context) =>
  runWorkerJob(event, deps, config, { deadline: Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS, pullReserve: config.pullReserve }),
).use(logMetrics(deps.metrics));
