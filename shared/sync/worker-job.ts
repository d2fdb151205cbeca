import { describeError, InvalidImageReferenceError, InvalidJobError, isRetryable } from '../errors.ts';
import type { Platform } from '../oci/platform.ts';
import { formatReference, type ImageReference, parseImageReference } from '../image-ref/reference.ts';
import { type TargetBase, targetFor } from '../image-ref/target.ts';
import type { MirrorJob } from '../plan/plan.ts';
import { resultOf } from '../plan/report.ts';
import type { MirrorResult, OutcomeRecorder } from '../ports.ts';
import { type ImageFacts, mirrorImage, statusOf, type SyncDeps, type SyncOptions } from './mirror-image.ts';
import { safeMessage, safeText } from '../safe-text.ts';

/** What the scheduler (or a person with `aws lambda invoke`) sends the worker: `{"source": "postgres:14"}` is enough. */
export interface WorkerEvent {
  readonly source?: unknown;
  readonly target?: unknown;
  readonly files?: unknown;
}

export interface WorkerSettings {
  readonly target: TargetBase;
  readonly nameTemplate: string;
  readonly allowRegistries: readonly string[];
  readonly platforms: readonly Platform[];
}

/**
 * Turns a worker event into a job, with the target computed from the settings when the event names none. The
 * references are parsed again rather than trusted: the scheduler wrote them, but anyone allowed to invoke the worker
 * (a person with `aws lambda invoke`, a replay from the dead-letter queue) can send an event.
 */
function jobFromEvent(event: WorkerEvent, settings: WorkerSettings): MirrorJob {
  if (typeof event !== 'object' || event === null) throw new InvalidJobError('the event must be an object like {"source": "postgres:14"}');
  if (typeof event.source !== 'string') throw new InvalidJobError('the event has no "source" string, e.g. {"source": "postgres:14"}');
  const files = Array.isArray(event.files) ? event.files.filter((f): f is string => typeof f === 'string') : [];
  let source: ImageReference;
  try {
    source = parseImageReference(event.source);
  } catch (error) {
    throw new InvalidJobError((error as Error).message, { cause: error });
  }
  if (settings.allowRegistries.length > 0 && !settings.allowRegistries.includes(source.registry)) {
    throw new InvalidJobError(`registry "${source.registry}" of "${formatReference(source)}" is not allowed (allowed: ${settings.allowRegistries.join(', ')})`);
  }
  const target = event.target === undefined ? targetFor(source, settings.target, settings.nameTemplate) : parseTarget(event.target, settings.target);
  return { source, target, files };
}

// A target named in the event must stay inside the configured registry and prefix: the worker pushes nowhere else.
function parseTarget(value: unknown, base: TargetBase): ImageReference {
  if (typeof value !== 'string') throw new InvalidJobError('"target" must be a string');
  let target: ImageReference;
  try {
    target = parseImageReference(value);
  } catch (error) {
    throw new InvalidImageReferenceError(`target: ${(error as Error).message}`, { cause: error });
  }
  const inside = target.registry === base.registry && (base.prefix === '' || target.repository.startsWith(`${base.prefix}/`));
  if (!inside || target.digest !== undefined || target.tag === undefined) {
    throw new InvalidJobError(`target "${safeText(value)}" must be a tag under ${base.registry}${base.prefix ? `/${base.prefix}` : ''}`);
  }
  return target;
}

/**
 * Mirrors the image of one worker event and records the outcome. Returns the result for permanent
 * failures (an invalid event, a missing image), throws retryable ones so Lambda retries them and,
 * when retries run out, sends the event to the dead-letter queue.
 */
export async function runWorkerJob(
  event: WorkerEvent,
  deps: SyncDeps & { recorder: OutcomeRecorder },
  settings: WorkerSettings,
  options: Pick<SyncOptions, 'deadline' | 'copyRetry' | 'pullReserve'> = {},
): Promise<MirrorResult> {
  const started = performance.now();
  let job: MirrorJob;
  try {
    job = jobFromEvent(event, settings);
  } catch (error) {
    const source = typeof event?.source === 'string' ? event.source : JSON.stringify(event ?? null).slice(0, 200);
    const result: MirrorResult = { file: '', files: [], source: safeMessage(source, 300), target: null, status: 'failed', digest: null, error: safeMessage(`invalid worker event: ${describeError(error)}`), retryable: false, durationMs: 0 };
    deps.recorder.record(result);
    return result;
  }
  const facts: ImageFacts = {};
  try {
    const outcome = await mirrorImage(job, deps, { ...options, platforms: settings.platforms }, facts);
    const result = resultOf(job, { ...outcome, durationMs: performance.now() - started });
    deps.recorder.record(result);
    return result;
  } catch (error) {
    // Deferred for the pull budget is no failure: the next scheduled run picks the image up, nothing is retried or paged.
    const result = resultOf(job, { status: statusOf(error), digest: facts.digest, budget: facts.budget, pulls: facts.pulls, error, durationMs: performance.now() - started });
    deps.recorder.record(result);
    if (result.status === 'failed' && isRetryable(error)) throw error;
    return result;
  }
}
