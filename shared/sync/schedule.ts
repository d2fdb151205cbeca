import pLimit from 'p-limit';
import { ConfigError, describeError, InvokeError } from '../errors.ts';
import { formatReference, parseImageReference, repositoryName } from '../image-ref/reference.ts';
import { buildPlan, type MirrorJob, type PlanOptions } from '../plan/plan.ts';
import { safeIssues } from '../plan/report.ts';
import type { DockerfileSource, ScheduleRecorder, ScheduleSummary, WorkerInvoker, WorkerJobPayload } from '../ports.ts';
import { safeMessage } from '../safe-text.ts';

/** The event the scheduler accepts: `{}` for a full sync, `{"only": [...]}` for a subset, `{"dryRun": true}` to plan only. */
export interface ScheduleRequest {
  readonly only?: readonly string[];
  readonly dryRun?: boolean;
}

export interface ScheduleDeps {
  readonly source: DockerfileSource;
  readonly invoker: WorkerInvoker;
  readonly recorder: ScheduleRecorder;
}

export interface ScheduleOptions extends PlanOptions {
  readonly maxInFlight: number;
}

/**
 * Reads the Dockerfiles, plans, and invokes one worker per image (a bounded number of invocations
 * in flight). Invalid files are reported and counted, never fatal. Throws when the source cannot be
 * read or any invocation failed, after recording the run, so that the Lambda's error alarm fires.
 */
export async function scheduleSync(request: ScheduleRequest | null | undefined, deps: ScheduleDeps, options: ScheduleOptions): Promise<ScheduleSummary> {
  try {
    const { only, dryRun } = parseRequest(request);
    const plan = buildPlan(await deps.source.list(), options);
    const { jobs, unmatched } = selectJobs(plan.jobs, only);
    const payloads = jobs.map(payloadOf);
    const invokeErrors: { source: string; message: string }[] = [];
    if (!dryRun) {
      const limit = pLimit(options.maxInFlight);
      await Promise.all(
        payloads.map((payload) =>
          limit(async () => {
            try {
              await deps.invoker.invoke(payload);
            } catch (error) {
              invokeErrors.push({ source: payload.source, message: safeMessage(describeError(error)) });
            }
          }),
        ),
      );
    }
    const summary: ScheduleSummary = {
      dryRun,
      planned: payloads.length,
      invoked: dryRun ? 0 : payloads.length - invokeErrors.length,
      failedInvokes: invokeErrors.length,
      invalid: new Set(plan.errors.map((e) => e.file)).size,
      jobs: payloads,
      errors: safeIssues(plan.errors),
      warnings: safeIssues(plan.warnings),
      unmatched: unmatched.map((entry) => safeMessage(entry, 300)),
      invokeErrors,
    };
    deps.recorder.recordRun(summary);
    if (invokeErrors.length > 0) {
      throw new InvokeError(`invoking workers: ${invokeErrors.length} of ${payloads.length} invocations failed, first: ${invokeErrors[0]?.source}: ${invokeErrors[0]?.message}`, { retryable: true });
    }
    return summary;
  } catch (error) {
    deps.recorder.recordFailure(error);
    throw error;
  }
}

// The event comes from EventBridge or a person's `aws lambda invoke`: checked field by field, never cast.
function parseRequest(request: unknown): { only: string[] | undefined; dryRun: boolean } {
  const event: unknown = request ?? {};
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new ConfigError('the scheduler event must be an object: {}, {"only": [...]} or {"dryRun": true}');
  const only: unknown = 'only' in event ? event.only : undefined;
  const dryRun: unknown = 'dryRun' in event ? event.dryRun : undefined;
  if (only !== undefined && !(Array.isArray(only) && only.every((item): item is string => typeof item === 'string'))) {
    throw new ConfigError('"only" must be a list of image names, e.g. ["docker.io/library/postgres"]');
  }
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new ConfigError('"dryRun" must be true or false');
  return { only, dryRun: dryRun === true };
}

// An `only` entry without tag or digest selects every tag of that repository; with one, that image alone.
function selectJobs(jobs: readonly MirrorJob[], only: string[] | undefined): { jobs: MirrorJob[]; unmatched: string[] } {
  if (only === undefined) return { jobs: [...jobs], unmatched: [] };
  const selected = new Set<MirrorJob>();
  const unmatched: string[] = [];
  for (const entry of only) {
    let matches: MirrorJob[];
    try {
      const ref = parseImageReference(entry);
      const exact = /@|:[^/]*$/.test(entry);
      matches = jobs.filter((job) => (exact ? formatReference(job.source) === formatReference(ref) : repositoryName(job.source) === repositoryName(ref)));
    } catch (error) {
      throw new ConfigError(`"only": ${describeError(error)}`);
    }
    if (matches.length === 0) unmatched.push(entry);
    for (const job of matches) selected.add(job);
  }
  return { jobs: jobs.filter((job) => selected.has(job)), unmatched };
}

function payloadOf(job: MirrorJob): WorkerJobPayload {
  return { source: formatReference(job.source), target: job.target === undefined ? '' : formatReference(job.target), files: job.files };
}
