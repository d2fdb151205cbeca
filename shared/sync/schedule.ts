import pLimit from 'p-limit';
import { ConfigError, describeError } from '../errors.ts';
import { formatReference } from '../image-ref/reference.ts';
import { buildPlan, type MirrorJob, type Plan, type PlanOptions } from '../plan/plan.ts';
import { type PolicyFileReader, readPolicy, ruleFor, type SignaturePolicy } from '../plan/policy.ts';
import { safeIssues } from '../plan/report.ts';
import { type JobSelection, selectJobs } from '../plan/select.ts';
import { settledWithin } from '../retry.ts';
import type { DockerfileSource, ScheduledJob, ScheduleRecorder, ScheduleSummary, WorkerInvoker, WorkerJobPayload } from '../ports.ts';
import { safeMessage } from '../safe-text.ts';
import type { OrphanReport } from './orphans.ts';

/** The event the scheduler accepts: `{}` for a full sync, `{"only": [...]}` for a subset, `{"dryRun": true}` to plan only. */
export interface ScheduleRequest {
  readonly only?: readonly string[];
  readonly dryRun?: boolean;
}

/** The images tree as one run reads it: its Dockerfiles and its signature policy's files, of one snapshot. */
export interface ImagesTree {
  readonly source: DockerfileSource;
  /** Reads the signature policy file (and the keys and trust roots it names) from the images tree; no policy when absent. */
  readonly policy?: PolicyFileReader;
}

export interface ScheduleDeps {
  /**
   * The images tree, taken once at the start of each run: on GitHub the ref resolved to one commit, so that the
   * Dockerfiles and the policy that judges their images are never read from two different commits.
   */
  readonly tree: () => Promise<ImagesTree>;
  readonly invoker: WorkerInvoker;
  readonly recorder: ScheduleRecorder;
  /** For an ECR target: the repositories under the prefix no Dockerfile names any more (reported, never deleted). */
  readonly orphans?: (plan: Plan) => Promise<OrphanReport>;
}

export interface ScheduleOptions extends PlanOptions {
  readonly maxInFlight: number;
}

/** A run id that sorts by time and names one run: `2026-12-03T10:00:00Z/3f2a9c1e` (start, then the Lambda request id's start). */
export function newRunId(requestId: string, now = new Date()): string {
  const id = requestId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8) || Math.random().toString(16).slice(2, 10);
  return `${now.toISOString().slice(0, 19)}Z/${id}`;
}

/**
 * Reads the Dockerfiles, plans, and invokes one worker per image (a bounded number of invocations in flight), each told
 * the run id. Invalid files are reported and counted, never fatal. A worker that cannot be invoked is reported with its
 * image, counted and left for the next run; the run itself succeeds, so that nothing ever re-runs the whole fan-out and
 * copies (and spends pulls on) every other image again. Each job carries the signature policy rule that covers its image
 * (`verify`, key or trust root inline), which the worker holds it to. Throws only when the images tree or its policy file
 * cannot be read or the request is malformed: nothing was invoked then.
 */
export async function scheduleSync(
  request: ScheduleRequest | null | undefined,
  deps: ScheduleDeps,
  options: ScheduleOptions,
  runId = newRunId(''),
  /** Epoch milliseconds by which the run must have returned (the Lambda's timeout less a margin): the orphan check gives up there. */
  deadline?: number,
): Promise<ScheduleSummary> {
  try {
    const { only, dryRun } = parseRequest(request);
    const tree = await deps.tree();
    // Read before any job is made: a broken policy (PolicyFileError) stops the run, never lets an image go unverified.
    const policy = tree.policy === undefined ? undefined : await readPolicy(tree.policy);
    const plan = buildPlan(await tree.source.list(), options);
    const { jobs, unmatched } = selectOnly(plan.jobs, only);
    const payloads = jobs.map((job) => payloadOf(job, runId, policy));
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
      runId,
      dryRun,
      planned: payloads.length,
      invoked: dryRun ? 0 : payloads.length - invokeErrors.length,
      failedInvokes: invokeErrors.length,
      invalid: new Set(plan.errors.map((e) => e.file)).size,
      jobs: payloads.map(summaryJob),
      errors: safeIssues(plan.errors),
      warnings: safeIssues(plan.warnings),
      unmatched: unmatched.map((entry) => safeMessage(entry, 300)),
      invokeErrors,
    };
    // The fan-out is recorded first: were the listing to outlast the function's time, the run's line is written.
    deps.recorder.recordRun(summary);
    if (deps.orphans === undefined) return summary;
    const orphans = await orphansOf(plan, deps.orphans, deadline);
    deps.recorder.recordOrphans(runId, orphans);
    return { ...summary, orphans };
  } catch (error) {
    deps.recorder.recordFailure(error, runId);
    throw error;
  }
}

// A report beside the run: its failure (ECR refusing the listing, say) is said, never fatal to the fan-out already done.
async function orphansOf(plan: Plan, find: (plan: Plan) => Promise<OrphanReport>, deadline: number | undefined): Promise<NonNullable<ScheduleSummary['orphans']>> {
  try {
    const report = await settledWithin(find(plan), deadline === undefined ? undefined : deadline - Date.now());
    if (report === undefined) return { error: "looking for orphaned repositories: not finished by the scheduler's deadline; the next run looks again" };
    return { repositories: report.orphans.map((orphan) => orphan.name), checked: report.checked };
  } catch (error) {
    return { error: safeMessage(`looking for orphaned repositories: ${describeError(error)}`) };
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

// The selection is the CLI's `--only` too (shared/plan/select.ts); here a bad entry is the event's fault.
function selectOnly(jobs: readonly MirrorJob[], only: string[] | undefined): JobSelection {
  try {
    return selectJobs(jobs, only);
  } catch (error) {
    throw new ConfigError(`"only": ${describeError(error)}`);
  }
}

function payloadOf(job: MirrorJob, runId: string, policy: SignaturePolicy | undefined): WorkerJobPayload {
  const verify = policy === undefined ? undefined : ruleFor(policy, job.source);
  return { source: formatReference(job.source), target: job.target === undefined ? '' : formatReference(job.target), files: job.files, runId, ...(verify === undefined ? {} : { verify }) };
}

/** A job as the run's summary lists it: its rule named, never its key or trust root (those travel in the payload alone). */
function summaryJob(payload: WorkerJobPayload): ScheduledJob {
  const { verify, ...job } = payload;
  return verify === undefined ? job : { ...job, verify: { name: verify.name, by: verify.by } };
}
