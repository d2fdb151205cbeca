import { CopyFailedError, describeError, isAuthFailure, MirrorError, RegistryRequestError, SourceRateLimitedError } from '../errors.ts';
import { OCI_INDEX } from '../oci/manifest.ts';
import { isNarrowedCopyOf, narrowIndex, type Platform } from '../oci/platform.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import type { MirrorJob } from '../plan/plan.ts';
import type { CredentialProvider, ImageCopier, ManifestHead, ManifestRegistry, RegistryCredential, RepositoryStore } from '../ports.ts';

/** What happened to one image. */
export type MirrorStatus = 'copied' | 'skipped' | 'failed' | 'would-copy' | 'would-skip';

/** The outcome of mirroring one job; `digest` is the source digest copied or found. */
export interface MirrorOutcome {
  readonly status: Exclude<MirrorStatus, 'failed'>;
  readonly digest: string;
  /** Docker Hub's `ratelimit-remaining` as last seen on the source, when it sent one. */
  readonly rateLimitRemaining?: string;
  readonly repositoryCreated?: boolean;
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
  /** Whole-copy attempts: crane does not retry a 429 on a manifest or a reset mid-blob; a retry is cheap since pushed blobs are skipped. */
  readonly copyAttempts?: number;
  readonly copyRetryDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Below this much time before the deadline no copy is started: it would be killed half-way. */
export const MIN_COPY_TIME_MS = 5_000;

/**
 * Mirrors one image: ensures the target repository, compares digests by HEAD on both sides (no pull
 * spent when they match), otherwise copies the exact source digest and checks what landed.
 * Throws a MirrorError that names the image and the step that failed.
 */
export async function mirrorImage(job: MirrorJob, deps: SyncDeps, options: SyncOptions = {}): Promise<MirrorOutcome> {
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
  const outcome = (status: MirrorOutcome['status']): MirrorOutcome => ({
    status,
    digest,
    ...(sourceHead.rateLimitRemaining !== undefined ? { rateLimitRemaining: sourceHead.rateLimitRemaining } : {}),
    ...(repositoryCreated ? { repositoryCreated } : {}),
  });

  const upToDate = targetHead !== undefined && (targetHead.digest === digest || (platforms.length > 0 && (await holdsNarrowedCopy(deps.registry, target, digest, platforms))));
  if (upToDate) return outcome(options.dryRun ? 'would-skip' : 'skipped');
  if (options.dryRun) return outcome('would-copy');

  const registries = [...new Set([source.registry, target.registry])];
  const credentials = await credentialsOf(deps.credentials, registries);
  const copier = (from: string, to: string) => copyWithRetry(deps, from, to, registries, credentials, options);
  if (platforms.length > 0) await copyPlatforms(job as Required<MirrorJob>, digest, platforms, deps, copier);
  else await copyWhole(job as Required<MirrorJob>, digest, deps, copier);
  return outcome('copied');
}

type Copy = (from: string, to: string) => Promise<void>;

async function copyWhole(job: Required<MirrorJob>, digest: string, deps: SyncDeps, copy: Copy): Promise<void> {
  // Copy by digest: what we looked at is what lands, even if the tag moves meanwhile.
  const from = formatReference(withDigest(job.source, digest));
  const to = formatReference(job.target);
  await copy(from, to);
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== digest) {
    throw new CopyFailedError(`copying "${from}" to "${to}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { retryable: true });
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
    throw new RegistryRequestError(`reading the source index "${from}": ${describeError(error)}`, { cause: error, retryable: error instanceof MirrorError ? error.retryable : true });
  }
  if (manifest === undefined) throw new RegistryRequestError(`reading the source index "${from}": no such manifest (404)`, { status: 404 });
  if (manifest.json.manifests === undefined) return copyWhole(job, digest, deps, copy);

  let narrowed;
  try {
    narrowed = narrowIndex(manifest.json, digest, platforms);
  } catch (error) {
    throw new MirrorError(`copying platforms of "${from}": ${describeError(error)}`, { cause: error });
  }
  for (const child of narrowed.children) {
    await copy(formatReference(withDigest(job.source, child.digest)), formatReference(withDigest(job.target, child.digest)));
  }
  let written: string;
  try {
    written = await deps.registry.putManifest(job.target, narrowed.body, OCI_INDEX);
  } catch (error) {
    throw new CopyFailedError(`tagging the index of ${narrowed.children.length} platform(s) of "${from}" as "${to}": ${describeError(error)}`, { cause: error, retryable: error instanceof MirrorError ? error.retryable : true });
  }
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== written) {
    throw new CopyFailedError(`copying platforms of "${from}" to "${to}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${written}`, { retryable: true });
  }
}

async function holdsNarrowedCopy(registry: ManifestRegistry, target: ImageReference, digest: string, platforms: readonly Platform[]): Promise<boolean> {
  // A GET on the target costs no source pull; it tells which source digest the narrowed index was made from.
  try {
    const manifest = await registry.getManifest(target);
    return manifest !== undefined && isNarrowedCopyOf(manifest.json, digest, platforms);
  } catch (error) {
    throw new RegistryRequestError(`reading target "${formatReference(target)}": ${describeError(error)}`, { cause: error, retryable: error instanceof MirrorError ? error.retryable : true });
  }
}

async function copyWithRetry(
  deps: SyncDeps,
  from: string,
  to: string,
  registries: readonly string[],
  credentials: Map<string, RegistryCredential>,
  options: SyncOptions,
): Promise<void> {
  const attempts = options.copyAttempts ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  let current = credentials;
  for (let attempt = 1; ; attempt += 1) {
    const left = options.deadline === undefined ? undefined : options.deadline - Date.now();
    if (left !== undefined && left < MIN_COPY_TIME_MS) {
      throw new CopyFailedError(`copying "${from}" to "${to}": stopped, ${Math.max(0, Math.round(left / 1000))} s left before the deadline is too little to copy safely`, { retryable: true });
    }
    try {
      await deps.copier.copy({ source: from, target: to, credentials: current, ...(left === undefined ? {} : { timeoutMs: left }) });
      return;
    } catch (error) {
      const retryable = error instanceof MirrorError ? error.retryable : true;
      if (!retryable || attempt >= attempts) {
        const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
        // Credentials still refused after a refresh will not improve with retries.
        throw new CopyFailedError(`copying "${from}" to "${to}": ${describeError(error)}${tries}`, { cause: error, retryable: retryable && !isAuthFailure(error) });
      }
      if (isAuthFailure(error) && deps.credentials.invalidate) {
        // An expired registry token: fetch fresh credentials before the next attempt.
        for (const registry of registries) deps.credentials.invalidate(registry);
        current = await credentialsOf(deps.credentials, registries);
      }
      await sleep((options.copyRetryDelayMs ?? 1_000) * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
    }
  }
}

async function lookup(registry: ManifestRegistry, ref: ImageReference, side: 'source' | 'target'): Promise<ManifestHead | undefined> {
  try {
    return await registry.headManifest(ref);
  } catch (error) {
    const retryable = error instanceof MirrorError ? error.retryable : true;
    const status = error instanceof RegistryRequestError ? error.status : undefined;
    const ErrorClass = error instanceof SourceRateLimitedError ? SourceRateLimitedError : RegistryRequestError;
    throw new ErrorClass(`looking up ${side} "${formatReference(ref)}": ${describeError(error)}`, { cause: error, retryable, ...(status !== undefined ? { status } : {}) });
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
