import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { loadFindingsConfig } from '../../shared/config/findings-config.ts';
import { recordScanEvent } from '../../shared/findings/scan-event.ts';
import { createFindingsDeps } from '../../shared/wiring/findings.ts';

// Read once per container: a bad configuration fails the cold start, listing every problem.
const config = loadFindingsConfig(process.env);
const deps = createFindingsDeps(config);

/** Logs and counts the findings of one ECR "Image Scan" event (EventBridge) for a mirrored repository, judged against its sign-offs. */
export const handler = middy((event: unknown) => recordScanEvent(event, deps, config))
  .use(injectLambdaContext(deps.logger, { resetKeys: true }))
  .use(logMetrics(deps.metrics));
