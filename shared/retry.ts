import { setTimeout as wait } from 'node:timers/promises';
// The one retry policy: every caller that retries (registry requests, whole-image copies) runs its attempts through
// `retrying`, which asks `nextDelay` how long to wait before the next one, or whether to stop. Exponential backoff with
// jitter (full, or equal where a floor is wanted), so that many workers hitting one registry do not retry in lockstep
// (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/); a server's Retry-After (RFC 9110,
// section 10.2.3) is a floor on the wait; a total budget and a deadline bound it all.

/** How often and how long to retry. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  readonly attempts: number;
  /** The backoff before the second attempt; it doubles for each one after. */
  readonly baseDelayMs: number;
  /** The longest single wait; a Retry-After asking for more ends the retries instead. */
  readonly maxDelayMs: number;
  /** No retry starts once this much time would have passed since the first attempt. */
  readonly budgetMs?: number;
  /** `full` (the default) waits anywhere from 0 to the backoff; `equal` at least half of it, for work too heavy to rerun at once. */
  readonly jitter?: 'full' | 'equal';
}

/** Registry API requests: a 429 or 5xx often clears in seconds; a minute is all a lookup may cost. */
export const REQUEST_RETRY: RetryPolicy = Object.freeze({ attempts: 4, baseDelayMs: 500, maxDelayMs: 20_000, budgetMs: 60_000 });

/**
 * Whole-image copies: crane gives up on a 429 or a reset mid-blob; a retry is cheap since pushed blobs are skipped.
 * crane does not pass Retry-After on, so the wait keeps a floor rather than rerunning a refused copy at once.
 */
export const COPY_RETRY: RetryPolicy = Object.freeze({ attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000, jitter: 'equal' });

/**
 * The worker's attempts at a whole image, inside one invocation, after the retries above gave up: an outage of a few
 * minutes upstream. Lambda's async retries would wait 1 and 2 minutes, but Lambda tells a function no attempt number,
 * so only the worker's own attempts can tell the last one (a failure that pages) from one that will be retried. A
 * registry's Retry-After of up to 5 minutes is waited for, where the invocation's deadline leaves room.
 */
export const WORKER_RETRY: RetryPolicy = Object.freeze({ attempts: 3, baseDelayMs: 20_000, maxDelayMs: 300_000, jitter: 'equal' });

export interface RetryState {
  /** The attempt that just failed, counting from 1. */
  readonly attempt: number;
  /** Epoch milliseconds of the first attempt. */
  readonly startedAt: number;
  /** What the server asked for, in milliseconds (see parseRetryAfter). */
  readonly retryAfterMs?: number | undefined;
  /** Epoch milliseconds by which the next attempt must have started, with room to finish (a Lambda deadline less a margin). */
  readonly deadline?: number | undefined;
  readonly now?: number;
  readonly random?: () => number;
}

/** The wait before the next attempt, or undefined when the policy says to stop. */
export function nextDelay(policy: RetryPolicy, state: RetryState): number | undefined {
  if (state.attempt >= policy.attempts) return undefined;
  const asked = state.retryAfterMs;
  if (asked !== undefined && asked > policy.maxDelayMs) return undefined;
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (state.attempt - 1));
  const random = (state.random ?? Math.random)();
  const jittered = policy.jitter === 'equal' ? backoff / 2 + (random * backoff) / 2 : random * backoff;
  const delay = Math.max(asked ?? 0, jittered);
  const now = state.now ?? Date.now();
  if (policy.budgetMs !== undefined && now - state.startedAt + delay > policy.budgetMs) return undefined;
  if (state.deadline !== undefined && now + delay > state.deadline) return undefined;
  return delay;
}

/** What one failed attempt tells the policy: whether another may succeed, and what the server asked for. */
export interface AttemptFailure {
  readonly retryable: boolean;
  /** Milliseconds the server asked to wait (Retry-After), when it did. */
  readonly retryAfterMs?: number | undefined;
}

/** How one caller's attempts are judged and what happens between them. */
export interface RetryRun {
  readonly classify: (error: unknown) => AttemptFailure;
  /** What to throw once the attempts end: the last failure, told how many attempts were made and whether it was retryable. */
  readonly giveUp: (error: unknown, attempts: number, retryable: boolean) => unknown;
  /** Work to do before the next attempt, once its wait is known (fetch fresh credentials, say). */
  readonly beforeRetry?: (error: unknown) => Promise<void> | void;
  /** Epoch milliseconds by which a retry must have started. */
  readonly deadline?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Runs `attempt` (told its number, from 1) until it succeeds or the policy stops it, then throws what `giveUp` makes of the last failure. */
export async function retrying<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>, run: RetryRun): Promise<T> {
  const startedAt = Date.now();
  for (let n = 1; ; n += 1) {
    try {
      return await attempt(n);
    } catch (error) {
      const failure = run.classify(error);
      const delay = failure.retryable ? nextDelay(policy, { attempt: n, startedAt, retryAfterMs: failure.retryAfterMs, deadline: run.deadline }) : undefined;
      if (delay === undefined) throw run.giveUp(error, n, failure.retryable);
      await run.beforeRetry?.(error);
      await (run.sleep ?? sleep)(delay);
    }
  }
}

/** ` (after 3 attempts)`: how a failure that was retried says so. */
export function afterAttempts(attempts: number): string {
  return ` (after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
}

/** Milliseconds asked for by a Retry-After header (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * `work`'s value, or undefined when `ms` pass first (never, for undefined). Work left behind is not waited for; the race
 * has subscribed to it, so its later failure is handled (and ignored).
 */
export async function settledWithin<T>(work: Promise<T>, ms: number | undefined): Promise<T | undefined> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`; ends early, its timer cleared, when `signal` aborts: the caller's next step sees the signal and stops. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return wait(ms, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
}
