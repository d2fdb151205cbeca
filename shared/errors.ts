/** Base class of every error image-mirror raises on purpose; `retryable` tells callers whether a later attempt may succeed. */
export class MirrorError extends Error {
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }
}

/** A text that is not a valid, mirrorable image reference. */
export class InvalidImageReferenceError extends MirrorError {}

/** A Dockerfile that cannot be turned into base images (syntax, unresolvable ARG, bad FROM). */
export class DockerfileError extends MirrorError {}

/** A target name that breaks the target registry's naming rules, or two sources fighting over one target. */
export class TargetNameError extends MirrorError {}

/** Invalid options or environment, reported all at once. */
export class ConfigError extends MirrorError {}

/** A registry answered with an error status while we looked up or wrote a manifest; `retryAfterMs` is the wait it asked for. */
export class RegistryRequestError extends MirrorError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { status?: number | undefined; cause?: unknown; retryable?: boolean; retryAfterMs?: number | undefined } = {}) {
    super(message, options);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A registry refused us for rate limiting (HTTP 429) after every retry. */
export class RateLimitedError extends RegistryRequestError {}

/** The source registry (Docker Hub, say) refused us for rate limiting: the pull budget is spent, not our own registry. */
export class SourceRateLimitedError extends RateLimitedError {}

/**
 * The source refused a pull for its pull limit (Docker Hub's 429 `TOOMANYREQUESTS`, "You have reached your pull rate
 * limit"): never retried within the run, since every retry of a GET spends more of the budget; the image is `deferred`.
 */
export class PullLimitError extends SourceRateLimitedError {}

/** The image was not copied because the pulls it needs would take the source's budget below the reserve. */
export class DeferredError extends MirrorError {}

/** Why a copy failed: refused credentials, a time limit, the source's pull limit, a fault a retry may clear, or one it never will. */
export type CopyFailureReason = 'auth' | 'timeout' | 'pull-limit' | 'transient' | 'permanent';

/** `crane copy` failed or timed out, or what landed is not what was copied; `reason` says which kind of failure. */
export class CopyFailedError extends MirrorError {
  readonly reason: CopyFailureReason;
  /** For a `timeout`: the time limit crane ran into, in milliseconds. */
  readonly limitMs: number | undefined;

  /** Retryable by default for `transient` and `timeout`; `auth` is retryable once the caller has fresh credentials. */
  constructor(message: string, options: { reason: CopyFailureReason; cause?: unknown; retryable?: boolean; limitMs?: number }) {
    super(message, { cause: options.cause, retryable: options.retryable ?? (options.reason === 'transient' || options.reason === 'timeout') });
    this.reason = options.reason;
    this.limitMs = options.limitMs;
  }
}

/** The ECR API failed while ensuring a repository. */
export class RepositoryStoreError extends MirrorError {}

/** Credentials for a registry or GitHub could not be fetched: an ECR token, a Secrets Manager secret. */
export class CredentialsError extends MirrorError {}

/** An index has none of the platforms asked for. */
export class PlatformNotFoundError extends MirrorError {}

/** A job could not be handed to a worker (a Lambda invoke that failed or was refused). */
export class InvokeError extends MirrorError {}

/** GitHub refused or failed a call while the images tree was listed or read; `resetAt` is when a rate limit lifts. */
export class GitHubSourceError extends MirrorError {
  readonly status: number | undefined;
  readonly resetAt: Date | undefined;

  constructor(message: string, options: { status?: number; resetAt?: Date; cause?: unknown; retryable?: boolean } = {}) {
    super(message, options);
    this.status = options.status;
    this.resetAt = options.resetAt;
  }
}

/** A `${…}` in a FROM line or an ARG default that cannot be expanded: an unknown or value-less ARG, a malformed substitution, a bound passed. */
export class ExpansionError extends DockerfileError {}

/** The run was told to stop (SIGINT, SIGTERM) before this work finished; nothing was left half-done on our side. */
export class InterruptedError extends MirrorError {}

/** A worker invocation's time ran out before the work ended: requests and the copy in flight were stopped. Final: another attempt gets no more time. */
export class DeadlineError extends MirrorError {}

/** A mistake in how the `mirror` command was called: exit code 2. */
export class UsageError extends MirrorError {}

/**
 * A sync's setup is wrong before any image is touched (no crane, no AWS region or credentials, the target refusing the
 * login): exit code 2, said once, not once per image.
 */
export class PreflightError extends UsageError {}

/** A Trivy report given to `mirror gate` that cannot be read, or is not a report of one image: exit code 2. */
export class ReportError extends UsageError {}

/**
 * An image a signature policy rule covers carries no signature the rule accepts (none found, a wrong key or identity,
 * a payload naming another digest, a certificate with no log proof): nothing of it is copied, and no retry changes that.
 */
export class UnverifiedError extends MirrorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: false });
  }
}

/** The signature policy file (`signature-policy.yaml`) cannot be read as a policy: the run stops before any image (exit 2). */
export class PolicyFileError extends UsageError {}

/** A sign-off file (`.trivyignore.yaml`) that cannot be read as Trivy's ignore file. */
export class SignOffFileError extends MirrorError {}

/** A worker event that can never succeed, however often it is retried. */
export class InvalidJobError extends MirrorError {}

/** An event that says it is an ECR Image Scan event but cannot be read as one. */
export class InvalidScanEventError extends MirrorError {}

/** A bot configuration (Dependabot, Renovate) that cannot be read, or that cannot be made valid. */
export class BotConfigError extends MirrorError {}

/** git could not find the repository or the ref, or failed to read it. */
export class GitSourceError extends MirrorError {}

/** Returns the message of any thrown value, with its causes chained. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && !error.message.includes(cause.message)) {
    return `${error.message}: ${describeError(cause)}`;
  }
  return error.message;
}

/** True when a later attempt at the same work may succeed; an error we did not raise on purpose says nothing, so no. */
export function isRetryable(error: unknown): boolean {
  return error instanceof MirrorError && error.retryable;
}

/** Whether to retry after a failure of a port: ours say so; anything else (a crashed socket, a bug in a library) may pass. */
export function mayRetry(error: unknown): boolean {
  return error instanceof MirrorError ? error.retryable : true;
}

/** The error itself or the first of its causes that is a `type` (and passes `test`), or undefined. */
export function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T, test: (found: T) => boolean = () => true): T | undefined {
  for (let current = error; current instanceof Error; current = current.cause) if (current instanceof type && test(current)) return current;
  return undefined;
}

/** True when an InterruptedError is the error or one of its causes: the run's stop ended the work, nothing else. */
export function isInterruption(error: unknown): boolean {
  return findCause(error, InterruptedError) !== undefined;
}

/** True when the source refused a pull for its pull limit (a 429 to our request, or to crane's). */
export function isPullLimitRefusal(error: unknown): boolean {
  return findCause(error, PullLimitError) !== undefined || findCause(error, CopyFailedError, (copy) => copy.reason === 'pull-limit') !== undefined;
}

/** True when the source's pull limit (or the budget kept for others) ended the work: the image is deferred, not failed. */
export function isDeferral(error: unknown): boolean {
  return findCause(error, DeferredError) !== undefined || isPullLimitRefusal(error);
}

/** True when a copy failed because a registry refused the credentials (an expired ECR token, say). */
export function isAuthFailure(error: unknown): boolean {
  return error instanceof CopyFailedError && error.reason === 'auth';
}
