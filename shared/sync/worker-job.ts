import * as z from 'zod/mini';
import { CopyFailedError, DeadlineError, describeError, findCause, InvalidImageReferenceError, InvalidJobError, isRetryable, RegistryRequestError } from '../errors.ts';
import type { Platform } from '../oci/platform.ts';
import { DOCKER_HUB, formatReference, type ImageReference, parseImageReference, withDigest } from '../image-ref/reference.ts';
import { type TargetBase, targetFor } from '../image-ref/target.ts';
import type { MirrorJob } from '../plan/plan.ts';
import { isMatcherRegExp, MAX_PEM_CHARS, MAX_TRUSTED_ROOT_CHARS, RULE_NAME, type VerifyRule } from '../plan/policy.ts';
import { resultOf } from '../plan/report.ts';
import type { ArtifactMode, ManifestRegistry, MirrorResult, OutcomeRecorder } from '../ports.ts';
import { imageBytes } from '../oci/manifest.ts';
import { nextDelay, type RetryPolicy, settledWithin, sleep, WORKER_RETRY } from '../retry.ts';
import { type ImageFacts, mirrorImage, outcomeFacts, statusOf, type SyncDeps, type SyncOptions } from './mirror-image.ts';
import { PullBudgets } from './pull-budget.ts';
import { safeMessage, safeText } from '../safe-text.ts';

/** What the scheduler (or a person with `aws lambda invoke`) sends the worker: `{"source": "postgres:14"}` is enough. */
export interface WorkerEvent {
  readonly source?: unknown;
  readonly target?: unknown;
  readonly files?: unknown;
  readonly runId?: unknown;
  /** The signature policy rule that covers the image (the scheduler attaches it): verified before anything is copied. */
  readonly verify?: unknown;
}

/** The run id an event carries, when it is one the scheduler could have written (anyone may invoke the worker). */
export function runIdOf(event: WorkerEvent | null | undefined): string | undefined {
  const runId: unknown = typeof event === 'object' && event !== null ? event.runId : undefined;
  return typeof runId === 'string' && /^[\w:./+-]{1,100}$/.test(runId) ? runId : undefined;
}

export interface WorkerSettings {
  readonly target: TargetBase;
  readonly nameTemplate: string;
  readonly allowRegistries: readonly string[];
  readonly platforms: readonly Platform[];
  /** Which of an image's artifacts travel with it; the engine's default when absent. */
  readonly artifacts?: ArtifactMode;
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
  const verify = event.verify === undefined ? undefined : parseVerifyRule(event.verify);
  return { source, target, files, ...(verify === undefined ? {} : { verify }) };
}

// Bounds on a rule an event may carry: a key is a few hundred bytes and a trust root a few kilobytes, and the whole event
// must fit Lambda's asynchronous payload (256 KB), so anything far larger is no rule the scheduler wrote.
const MAX_NAME_CHARS = 200;
const MAX_PATTERNS = 100;
const MAX_PATTERN_CHARS = 500;
const MAX_PATH_CHARS = 1_000;
const MAX_MATCHER_CHARS = 1_000;

const PEM_PUBLIC_KEY = /^\s*-----BEGIN [A-Z0-9 ]*PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END [A-Z0-9 ]*PUBLIC KEY-----\s*$/;

const text = (max: number) => z.string().check(z.minLength(1, 'must not be empty'), z.maxLength(max, `must be at most ${max} characters`));

function isJsonObject(json: string): boolean {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

const matcherSchema = z.union([
  z.strictObject({ exact: text(MAX_MATCHER_CHARS) }),
  z.strictObject({ regexp: text(MAX_MATCHER_CHARS).check(z.refine(isMatcherRegExp, 'is not a regular expression that compiles')) }),
]);

const ruleBase = {
  // As the policy reader takes a rule's name: it reaches log lines and result text, so no markup, spaces or controls.
  name: z.string().check(z.regex(RULE_NAME, `must be 1 to 100 letters, digits, '.', '_' or '-'`)),
  images: z.array(text(MAX_PATTERN_CHARS)).check(z.minLength(1, 'must name at least one pattern'), z.maxLength(MAX_PATTERNS, `must name at most ${MAX_PATTERNS} patterns`)),
};

const verifyRuleSchema = z.discriminatedUnion('by', [
  z.strictObject({
    ...ruleBase,
    by: z.literal('key'),
    key: z.strictObject({
      path: text(MAX_PATH_CHARS),
      pem: text(MAX_PEM_CHARS).check(z.refine((pem) => PEM_PUBLIC_KEY.test(pem), 'is not a PEM public key')),
    }),
  }),
  z.strictObject({
    ...ruleBase,
    by: z.literal('keyless'),
    issuer: matcherSchema,
    subject: matcherSchema,
    trustedRoot: z.exactOptional(
      z.strictObject({
        path: text(MAX_PATH_CHARS),
        json: text(MAX_TRUSTED_ROOT_CHARS).check(z.refine(isJsonObject, 'is not a JSON object')),
      }),
    ),
  }),
]);

/**
 * The event's signature rule, checked field by field: an event that carries a rule it cannot be held to is refused as a
 * whole, never mirrored unverified.
 */
function parseVerifyRule(value: unknown): VerifyRule {
  const parsed = verifyRuleSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const name = typeof value === 'object' && value !== null && 'name' in value && typeof value.name === 'string' ? ` (rule "${safeText(value.name.slice(0, MAX_NAME_CHARS))}")` : '';
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `"verify.${issue.path.join('.')}"` : '"verify"';
  throw new InvalidJobError(`${where}${name} is not a signature policy rule the worker can hold the image to: ${issue?.message ?? 'invalid'}; the image is not mirrored`);
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

/** No attempt starts with less than this before the deadline: it could not look up and copy anything. */
const MIN_ATTEMPT_MS = 30_000;

/** After the deadline, how long the work is given to stop by itself (its requests and crane are aborted) before it is abandoned. */
const STOP_GRACE_MS = 2_000;

export interface WorkerRunOptions extends Pick<SyncOptions, 'copyRetry' | 'pullReserve' | 'sleep'> {
  /** Epoch milliseconds by which the outcome must be known: the Lambda deadline less the time to log it and flush metrics. */
  readonly deadline?: number;
  /** The worker's own attempts at an image and the waits between them (WORKER_RETRY when absent). */
  readonly retry?: RetryPolicy;
  /**
   * Told the invocation's signal before the work starts, so that adapters built once per container (the registry client)
   * stop their requests with it. It is aborted at the deadline, and when the invocation ends: work abandoned at the
   * deadline finds it aborted until the next invocation binds its own.
   */
  readonly bindSignal?: (signal: AbortSignal) => void;
  /** crane's time limit per copy (COPY_TIMEOUT_SECONDS): a copy that ran into all of it is too large for the worker. */
  readonly copyTimeoutMs?: number;
}

/**
 * Mirrors the image of one worker event and records its outcome once. A failure that may clear is tried again inside the
 * invocation (Lambda tells a function no attempt number, so only the worker's own attempts can tell the last one from
 * the others): each such attempt is recorded as retrying, and only the last one's failure as the outcome. The outcome
 * is returned, never thrown: Lambda's own retries are left for invocations that crashed. Everything is bounded by
 * `deadline`: requests and crane are stopped there, and the outcome says so.
 */
export async function runWorkerJob(
  event: WorkerEvent,
  deps: SyncDeps & { recorder: OutcomeRecorder },
  settings: WorkerSettings,
  options: WorkerRunOptions = {},
): Promise<MirrorResult> {
  let job: MirrorJob;
  try {
    job = jobFromEvent(event, settings);
  } catch (error) {
    const source = typeof event?.source === 'string' ? event.source : JSON.stringify(event ?? null).slice(0, 200);
    const result: MirrorResult = { file: '', files: [], source: safeMessage(source, 300), target: null, status: 'failed', digest: null, error: safeMessage(`invalid worker event: ${describeError(error)}`), retryable: false, durationMs: 0 };
    deps.recorder.record(result);
    return result;
  }
  const clock = new InvocationClock(options.deadline);
  options.bindSignal?.(clock.signal);
  const tries = { made: 0, of: (options.retry ?? WORKER_RETRY).attempts };
  try {
    const result = await clock.settle(attempts(job, deps, settings, options, clock, tries), () => clock.outOfTime(job, new DeadlineError('the work did not stop when asked')));
    deps.recorder.record(result, { number: tries.made, of: tries.of });
    return result;
  } finally {
    clock.dispose();
  }
}

/** The image tried until it is mirrored, deferred, fails for good, or no attempt fits before the deadline. */
async function attempts(
  job: MirrorJob,
  deps: SyncDeps & { recorder: OutcomeRecorder },
  settings: WorkerSettings,
  options: WorkerRunOptions,
  clock: InvocationClock,
  tries: { made: number },
): Promise<MirrorResult> {
  const policy = options.retry ?? WORKER_RETRY;
  const started = performance.now();
  const startedAt = Date.now();
  // One budget and one record of pulls across attempts: a retry spends from what the first left.
  const budgets = new PullBudgets(options.pullReserve);
  const facts: ImageFacts = {};
  const sync: SyncOptions = {
    platforms: settings.platforms,
    ...(settings.artifacts === undefined ? {} : { artifacts: settings.artifacts }),
    budgets,
    signal: clock.signal,
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    ...(options.copyRetry ? { copyRetry: options.copyRetry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };
  for (let attempt = 1; ; attempt += 1) {
    tries.made = attempt;
    let failure: unknown;
    try {
      const outcome = await mirrorImage(job, deps, sync, facts);
      return resultOf(job, { ...outcome, durationMs: performance.now() - started });
    } catch (error) {
      failure = clock.expired ? clock.failure(job, error) : await lastWords(job, error, deps.registry, facts, options.copyTimeoutMs);
    }
    // Deferred for the pull budget is no failure: the next scheduled run picks the image up, nothing is retried or paged.
    // The deadline's abort interrupts the work, but to the worker it is a failure: the image was not mirrored in time.
    const result = resultOf(job, { status: failure instanceof DeadlineError ? 'failed' : statusOf(failure), ...outcomeFacts(facts), error: failure, durationMs: performance.now() - started });
    if (result.status !== 'failed' || !isRetryable(failure)) return result;
    // A registry that asked for a wait (Retry-After) gets at least that, or no more attempts when it asked for too long.
    const retryAfterMs = retryAfterOf(failure);
    const waitMs = nextDelay(policy, { attempt, startedAt, retryAfterMs, ...(options.deadline === undefined ? {} : { deadline: options.deadline - MIN_ATTEMPT_MS }) });
    if (waitMs === undefined) return result;
    deps.recorder.retrying(result, { number: attempt, of: policy.attempts, waitMs: Math.round(waitMs) });
    // The wait ends early at the deadline (sleep() resolves on the abort): the last failure is then the outcome.
    await (options.sleep ?? sleep)(waitMs, clock.signal);
    if (clock.expired) return resultOf(job, { status: 'failed', ...outcomeFacts(facts), error: clock.failure(job, failure), durationMs: performance.now() - started });
  }
}

/** The wait a registry asked for (Retry-After) somewhere in the failure's causes, in milliseconds. */
function retryAfterOf(error: unknown): number | undefined {
  return findCause(error, RegistryRequestError, (request) => request.retryAfterMs !== undefined)?.retryAfterMs;
}

/**
 * A copy that ran into all of crane's time limit is too large (or its source too slow) for one invocation: no attempt
 * will do better, so say what will, with the image's size where it can be read for free. A copy that started late, with
 * less than that limit left, only ran out of this invocation's time: the next run may finish it. (A copy not started for
 * want of time has no crane failure as its cause.)
 */
async function lastWords(job: MirrorJob, error: unknown, registry: ManifestRegistry, facts: ImageFacts, copyTimeoutMs: number | undefined): Promise<unknown> {
  const crane = error instanceof CopyFailedError && error.reason === 'timeout' && error.cause instanceof CopyFailedError && error.cause.reason === 'timeout' ? error.cause : undefined;
  if (crane === undefined) return error;
  const wholeLimit = copyTimeoutMs === undefined || crane.limitMs === undefined || crane.limitMs >= copyTimeoutMs * 0.9;
  if (!wholeLimit) {
    return new CopyFailedError(`${describeError(error)}: it started with only ${Math.round((crane.limitMs ?? 0) / 1000)} s of the invocation left; the next scheduled run tries again`, { cause: error, reason: 'timeout', retryable: false });
  }
  const size = await sizeOf(job, registry, facts);
  return new CopyFailedError(`${describeError(error)}${size}: ${TOO_LARGE(job)}`, { cause: error, reason: 'timeout', retryable: false });
}

/** How long the size may take to read: it only adds to a report. */
const SIZE_LOOKUP_MS = 5_000;

/**
 * ` (the image is 12.3 GB)` or ` (an index of 4 images)`, from one manifest GET; nothing where that GET would spend a
 * pull of a source's budget (Docker Hub's), where it fails, or where it takes too long.
 */
async function sizeOf(job: MirrorJob, registry: ManifestRegistry, facts: ImageFacts): Promise<string> {
  // Docker Hub counts every manifest GET, whether or not its answers told a budget (a login may hide the headers).
  if (facts.budget !== undefined || facts.digest === undefined || job.source.registry === DOCKER_HUB) return '';
  try {
    const manifest = await settledWithin(registry.getManifest(withDigest(job.source, facts.digest)), SIZE_LOOKUP_MS);
    if (manifest === undefined) return '';
    const bytes = imageBytes(manifest.json);
    if (bytes !== undefined) return ` (the image is ${formatBytes(bytes)})`;
    const images = manifest.json.manifests?.length;
    return images ? ` (an index of ${images} images)` : '';
  } catch {
    return '';
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return bytes >= 1e6 ? `${Math.round(bytes / 1e6)} MB` : `${bytes} bytes`;
}

const TOO_LARGE = (job: MirrorJob): string =>
  `too large or too slow to copy within one worker invocation (Lambda's 15 minutes); not retried. Mirror it once with \`mirror sync\` from a machine without that limit (README: "Time limits: an image too large for the worker"); from then on the worker finds it unchanged and only looks it up (source ${formatReference(job.source)})`;

/**
 * The invocation's deadline as a signal: aborted with a DeadlineError when it passes, so that requests and crane stop; and
 * the guard that abandons work which did not stop, so that the outcome is always recorded before Lambda's own timeout.
 */
class InvocationClock {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly deadline: number | undefined) {
    if (deadline !== undefined) {
      this.timer = setTimeout(() => this.controller.abort(new DeadlineError("the invocation's time ran out")), Math.max(0, deadline - Date.now()));
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** The work's result, or `late()` when the work has not settled shortly after the deadline. */
  async settle<T>(work: Promise<T>, late: () => T): Promise<T> {
    if (this.deadline === undefined) return work;
    let guard: NodeJS.Timeout | undefined;
    let start: (() => void) | undefined;
    const abandoned = new Promise<T>((resolve) => {
      start = () => (guard = setTimeout(() => resolve(late()), STOP_GRACE_MS));
      if (this.signal.aborted) start();
      else this.signal.addEventListener('abort', start, { once: true });
    });
    // Work abandoned here may still reject later: the race has subscribed to it, so that is handled (and ignored).
    try {
      return await Promise.race([work, abandoned]);
    } finally {
      // The signal is aborted when the invocation ends too (dispose): no grace timer then.
      if (start) this.signal.removeEventListener('abort', start);
      clearTimeout(guard);
    }
  }

  /**
   * What a failure after the deadline is: work that ran out of this invocation's time. Not "too large": a copy cut here
   * may have started late (after a retry); one that used all of crane's limit ends before, as a crane timeout.
   */
  failure(job: MirrorJob, error: unknown): DeadlineError {
    const what = findCause(error, CopyFailedError) !== undefined ? `copying "${formatReference(job.source)}"` : `mirroring "${formatReference(job.source)}"`;
    return new DeadlineError(`${what}: stopped at the invocation's deadline, ${this.elapsed()} s after it started (${describeError(error)}); the next scheduled run tries again`, { cause: error });
  }

  /** The outcome of work that did not stop at the deadline. */
  outOfTime(job: MirrorJob, error: unknown): MirrorResult {
    return resultOf(job, { status: 'failed', error: this.failure(job, error) });
  }

  /** Ends the invocation: whatever was abandoned and still runs finds the signal aborted. */
  dispose(): void {
    clearTimeout(this.timer);
    if (!this.expired) this.controller.abort(new DeadlineError('the invocation has ended'));
  }

  private elapsed(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }
}
