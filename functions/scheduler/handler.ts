import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { loadSchedulerConfig } from '../../shared/config/scheduler-config.ts';
import { newRunId, type ScheduleRequest, scheduleSync } from '../../shared/sync/schedule.ts';
import { createSchedulerDeps } from '../../shared/wiring/scheduler.ts';

// Time kept back from the Lambda timeout for the orphan check to give up and its line and metrics to be written.
const DEADLINE_MARGIN_MS = 10_000;

// Read once per container: a bad configuration fails the cold start, listing every problem.
const config = loadSchedulerConfig(process.env);
const deps = createSchedulerDeps(config);

/**
 * Plans from the GitHub tree and invokes one worker per image: `{}`, `{"only": [...]}` or `{"dryRun": true}`. The run id,
 * on its log lines and in every worker event, is the start time and the request id: it sorts by time in Logs Insights.
 */
export const handler = middy((event: ScheduleRequest, context: Context) =>
  scheduleSync(event, deps, config, newRunId(context.awsRequestId), Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS),
)
  .use(injectLambdaContext(deps.logger, { resetKeys: true }))
  .use(logMetrics(deps.metrics));
