import middy from '@middy/core';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { loadSchedulerConfig } from '../../shared/config/scheduler-config.ts';
import { type ScheduleRequest, scheduleSync } from '../../shared/sync/schedule.ts';
import { createSchedulerDeps } from '../../shared/wiring/scheduler.ts';

// Read once per container: a bad configuration fails the cold start, listing every problem.
const config = loadSchedulerConfig(process.env);
const deps = createSchedulerDeps(config);

/** Plans from the GitHub tree and invokes one worker per image: `{}`, `{"only": [...]}` or `{"dryRun": true}`. */
export const handler = middy((event: ScheduleRequest) => scheduleSync(event, deps, config)).use(logMetrics(deps.metrics));
