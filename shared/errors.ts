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

/** A registry answered with an error status while we looked up or wrote a manifest. */
export class RegistryRequestError extends MirrorError {
  readonly status: number | undefined;

  constructor(message: string, options: { status?: number; cause?: unknown; retryable?: boolean } = {}) {
    super(message, options);
    this.status = options.status;
  }
}

/** The source registry refused us for rate limiting (HTTP 429) after every retry. */
export class SourceRateLimitedError extends RegistryRequestError {}

/** `crane copy` failed or timed out. */
export class CopyFailedError extends MirrorError {}

/** The ECR API failed while ensuring a repository or fetching a token. */
export class RepositoryStoreError extends MirrorError {}

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

/** Returns the message of any thrown value, with its causes chained. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && !error.message.includes(cause.message)) {
    return `${error.message}: ${describeError(cause)}`;
  }
  return error.message;
}

/** True when a later attempt at the same work may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof MirrorError && error.retryable;
}

/** True when a failure's message says a registry refused the credentials (an expired ECR token, say). */
export function isAuthFailure(error: unknown): boolean {
  return error instanceof Error && /\b401\b|UNAUTHORIZED|authentication required/i.test(error.message);
}
