import pLimit from 'p-limit';
import { CopyFailedError, describeError, InterruptedError, isAuthFailure, isInterruption, mayRetry, MirrorError, PlatformNotFoundError, RateLimitedError, RegistryRequestError, SourceRateLimitedError } from '../errors.ts';
import { OCI_INDEX } from '../oci/manifest.ts';
import { isNarrowedCopyOf, narrowIndex, type Platform } from '../oci/platform.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import type { MirrorJob, Plan } from '../plan/plan.ts';
import { buildReport, type Report, resultOf } from '../plan/report.ts';
import type { CredentialProvider, ImageCopier, ManifestHead, ManifestRegistry, MirrorResult, MirrorStatus, PullBudgetSeen, RegistryCredential, RepositoryStore } from '../ports.ts';
import { afterAttempts, COPY_RETRY, retrying, type RetryPolicy, sleep } from '../retry.ts';

/** The outcome of mirroring one job; `digest` is the source digest copied or found. */
export interface MirrorOutcome {
  readonly status: Exclude<MirrorStatus, 'failed'>;
  readonly digest: string;
  /** The source's pull budget as last seen, when it has one. */
  readonly budget?: PullBudgetSeen;
  readonly repositoryCreated?: boolean;
  /** For `copied`: what the target tag held before, when it was another image. */
  readonly replaced?: string;
}

/** What mirrorImage() learnt before it failed, for the failure's result line. */
export interface ImageFacts {
  digest?: string;
}

/** The ports the sync use case works through. */
export interface SyncDeps {
  readonly registry: ManifestRegistry;
  readonly copier: ImageCopier;
  readonly credentials: CredentialProvider;
  /** Present for ECR targets only: a generic OCI registry creates repositories on push. */
  readonly repositories?: RepositoryStore;
}

export interface SyncOptions {
  readonly dryRun?: boolean;
  /** Copy only these platforms out of multi-platform indexes; all of them when empty. */
  readonly platforms?: readonly Platform[];
  /** Epoch milliseconds by which all work must have stopped (a Lambda deadline less a margin). */
  readonly deadline?: number;
  /** How whole-image copies are retried; COPY_RETRY unless a test wants it faster. */
  readonly copyRetry?: RetryPolicy;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted when the run is interrupted: nothing more is started, a running copy is stopped. */
  readonly signal?: AbortSignal;
}

/** Below this much time before the deadline no copy is started: it would be killed half-way. */
const MIN_COPY_TIME_MS = 5_000;

export interface SyncAllOptions extends SyncOptions {
  /** Images copied at once. */
  readonly concurrency?: number;
  /** Called as each image finishes, for progress output. */
  readonly onResult?: (result: MirrorResult, done: number, total: number) => void;
}

/**
 * Mirrors every job of a plan, a bounded number at a time; one image failing never stops the others. Once the signal
 * is aborted no image is started, and every image not finished is `interrupted`.
 */
export async function syncAll(plan: Plan, deps: SyncDeps, options: SyncAllOptions = {}): Promise<Report> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  let done = 0;
  const results = await Promise.all(
    plan.jobs.map((job) =>
      limit(async () => {
        const started = performance.now();
        const facts: ImageFacts = {};
        let result: MirrorResult;
        try {
          if (options.signal?.aborted) throw new InterruptedError(`mirroring "${formatReference(job.source)}": interrupted before it started`);
          const outcome = await mirrorImage(job, deps, options, facts);
          result = resultOf(job, { ...outcome, durationMs: performance.now() - started });
        } catch (error) {
          // Interrupted only when the stop is what ended it: a real failure that came meanwhile stays a failure.
          const status = isInterruption(error) ? 'interrupted' : 'failed';
          result = resultOf(job, { status, digest: facts.digest, error, durationMs: performance.now() - started });
        }
        done += 1;
        options.onResult?.(result, done, plan.jobs.length);
        return result;
      }),
    ),
  );
  return buildReport(plan, results);
}

/**
 * Mirrors one image: ensures the target repository, compares digests by HEAD on both sides (no pull
 * spent when they match), otherwise copies the exact source digest and checks what landed.
 * Throws a MirrorError that names the image and the step that failed; `facts` keeps what was learnt before.
 */
export async function mirrorImage(job: MirrorJob, deps: SyncDeps, options: SyncOptions = {}, facts: ImageFacts = {}): Promise<MirrorOutcome> {
  const { source, target } = job;
  if (target === undefined) throw new MirrorError(`mirroring "${formatReference(source)}": the job has no target`);
  const platforms = options.platforms ?? [];

  let repositoryCreated = false;
  if (deps.repositories && !options.dryRun) {
    repositoryCreated = (await deps.repositories.ensure(target.repository, `${source.registry}/${source.repository}`)) === 'created';
  }

  // A digest-pinned source needs no request on the source side at all.
  const [sourceHead, targetHead] = await Promise.all([
    source.digest !== undefined ? Promise.resolve<ManifestHead>({ digest: source.digest }) : lookup(deps.registry, source, 'source'),
    lookup(deps.registry, target, 'target'),
  ]);
  if (sourceHead === undefined) {
    throw new RegistryRequestError(`looking up source "${formatReference(source)}": no such image (404)`, { status: 404 });
  }
  const digest = sourceHead.digest;
  facts.digest = digest;
  const outcome = (status: MirrorOutcome['status']): MirrorOutcome => ({
    status,
    digest,
    ...(sourceHead.budget !== undefined ? { budget: sourceHead.budget } : {}),
    ...(repositoryCreated ? { repositoryCreated } : {}),
  });

  const upToDate = targetHead !== undefined && (targetHead.digest === digest || (platforms.length > 0 && (await holdsNarrowedCopy(deps.registry, target, digest, platforms))));
  if (upToDate) return outcome(options.dryRun ? 'would-skip' : 'skipped');
  if (options.dryRun) return outcome('would-copy');
  if (options.signal?.aborted) throw new InterruptedError(`copying "${formatReference(source)}": interrupted before the copy started`);

  const registries = [...new Set([source.registry, target.registry])];
  const credentials = await credentialsOf(deps.credentials, registries);
  const copier: Copy = (from, to) => copyWithRetry(deps, from, to, registries, credentials, options);
  if (platforms.length > 0) await copyPlatforms(job as Required<MirrorJob>, digest, platforms, deps, copier);
  else await copyWhole(job as Required<MirrorJob>, digest, deps, copier);
  // The tag pointed at another image: say which, so that an overwrite never passes as a plain copy.
  return targetHead === undefined ? outcome('copied') : { ...outcome('copied'), replaced: targetHead.digest };
}

type Copy = (from: ImageReference, to: ImageReference) => Promise<void>;

async function copyWhole(job: Required<MirrorJob>, digest: string, deps: SyncDeps, copy: Copy): Promise<void> {
  // Copy by digest: what we looked at is what lands, even if the tag moves meanwhile.
  const from = withDigest(job.source, digest);
  await copy(from, job.target);
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== digest) {
    throw new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(job.target)}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { reason: 'transient' });
  }
}

// Only some platforms: copy each platform's image by digest, then tag an index of just those, annotated with the source digest.
async function copyPlatforms(job: Required<MirrorJob>, digest: string, platforms: readonly Platform[], deps: SyncDeps, copy: Copy): Promise<void> {
  const sourceRef = withDigest(job.source, digest);
  const from = formatReference(sourceRef);
  const to = formatReference(job.target);
  let manifest;
  try {
    manifest = await deps.registry.getManifest(sourceRef);
  } catch (error) {
    throw new RegistryRequestError(`reading the source index "${from}": ${describeError(error)}`, { cause: error, retryable: mayRetry(error) });
  }
  if (manifest === undefined) throw new RegistryRequestError(`reading the source index "${from}": no such manifest (404)`, { status: 404 });
  if (manifest.json.manifests === undefined) return copyWhole(job, digest, deps, copy);

  let narrowed;
  try {
    narrowed = narrowIndex(manifest.json, digest, platforms);
  } catch (error) {
    throw new PlatformNotFoundError(`copying platforms of "${from}": ${describeError(error)}`, { cause: error });
  }
  for (const child of narrowed.children) {
    await copy(withDigest(job.source, child.digest), withDigest(job.target, child.digest));
  }
  let written: string;
  try {
    written = await deps.registry.putManifest(job.target, narrowed.body, OCI_INDEX);
  } catch (error) {
    throw new CopyFailedError(`tagging the index of ${narrowed.children.length} platform(s) of "${from}" as "${to}": ${describeError(error)}`, { cause: error, reason: mayRetry(error) ? 'transient' : 'permanent' });
  }
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== written) {
    throw new CopyFailedError(`copying platforms of "${from}" to "${to}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${written}`, { reason: 'transient' });
  }
}

async function holdsNarrowedCopy(registry: ManifestRegistry, target: ImageReference, digest: string, platforms: readonly Platform[]): Promise<boolean> {
  // A GET on the target costs no source pull; it tells which source digest the narrowed index was made from.
  try {
    const manifest = await registry.getManifest(target);
    return manifest !== undefined && isNarrowedCopyOf(manifest.json, digest, platforms);
  } catch (error) {
    throw new RegistryRequestError(`reading target "${formatReference(target)}": ${describeError(error)}`, { cause: error, retryable: mayRetry(error) });
  }
}

async function copyWithRetry(
  deps: SyncDeps,
  from: ImageReference,
  to: ImageReference,
  registries: readonly string[],
  credentials: Map<string, RegistryCredential>,
  options: SyncOptions,
): Promise<void> {
  const left = () => (options.deadline === undefined ? undefined : options.deadline - Date.now());
  const before = left();
  if (before !== undefined && before < MIN_COPY_TIME_MS) {
    throw new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(to)}": stopped, ${Math.max(0, Math.round(before / 1000))} s left before the deadline is too little to copy safely`, { reason: 'timeout' });
  }
  let current = credentials;
  await retrying(
    options.copyRetry ?? COPY_RETRY,
    async () => {
      const timeoutMs = left();
      await deps.copier.copy({ source: from, target: to, credentials: current, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(options.signal ? { signal: options.signal } : {}) });
    },
    {
      classify: (error) => ({ retryable: mayRetry(error) }),
      giveUp: (error, attempts) => copyFailure(from, to, error, attempts),
      beforeRetry: async (error) => {
        if (!isAuthFailure(error) || !deps.credentials.invalidate) return;
        // An expired registry token: fetch fresh credentials before the next attempt.
        for (const registry of registries) deps.credentials.invalidate(registry);
        current = await credentialsOf(deps.credentials, registries);
      },
      // A retry starts only with the same room to finish that the first attempt needed; otherwise the last failure is reported.
      ...(options.deadline === undefined ? {} : { deadline: options.deadline - MIN_COPY_TIME_MS }),
      // An interruption ends the wait; the next attempt then finds the signal aborted and starts no crane.
      sleep: (ms) => (options.sleep ?? sleep)(ms, options.signal),
    },
  );
}

// The failure of the last attempt, saying how many there were. Credentials still refused after a refresh will not improve with retries.
function copyFailure(from: ImageReference, to: ImageReference, error: unknown, attempts: number): CopyFailedError {
  const reason = error instanceof CopyFailedError ? error.reason : mayRetry(error) ? 'transient' : 'permanent';
  const tries = attempts > 1 ? afterAttempts(attempts) : '';
  return new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(to)}": ${describeError(error)}${tries}`, { cause: error, reason, retryable: mayRetry(error) && reason !== 'auth' });
}

async function lookup(registry: ManifestRegistry, ref: ImageReference, side: 'source' | 'target'): Promise<ManifestHead | undefined> {
  try {
    return await registry.headManifest(ref);
  } catch (error) {
    const status = error instanceof RegistryRequestError ? error.status : undefined;
    // A 429 from the source is the pull budget running out; one from the target is our own registry's affair.
    const ErrorClass = error instanceof RateLimitedError ? (side === 'source' ? SourceRateLimitedError : RateLimitedError) : RegistryRequestError;
    throw new ErrorClass(`looking up ${side} "${formatReference(ref)}": ${describeError(error)}`, { cause: error, retryable: mayRetry(error), ...(status !== undefined ? { status } : {}) });
  }
}

async function credentialsOf(provider: CredentialProvider, registries: readonly string[]): Promise<Map<string, RegistryCredential>> {
  const out = new Map<string, RegistryCredential>();
  for (const registry of registries) {
    const credential = await provider.credentialsFor(registry);
    if (credential) out.set(registry, credential);
  }
  return out;
}
