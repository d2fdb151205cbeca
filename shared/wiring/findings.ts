import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { PowertoolsScanRecorder } from '../observability/scan-recorder.ts';
import type { ScanRecorder } from '../ports.ts';
import { createTelemetry } from './telemetry.ts';

/** The findings function's adapters: only the Powertools recorder, since the event carries everything (no AWS call). */
export function createFindingsDeps(telemetry = createTelemetry()): { recorder: ScanRecorder; metrics: Metrics; logger: Logger } {
  return { recorder: new PowertoolsScanRecorder(telemetry.logger, telemetry.metrics), ...telemetry };
}
