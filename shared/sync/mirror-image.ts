import { CopyFailedError, describeError, MirrorError, RegistryRequestError, SourceRateLimitedError } from '../errors.ts';
import { isNarrowedCopyOf, narrowIndex, OCI_INDEX, type Platform } from '../image-ref/platform.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import type { MirrorJob } from '../plan/plan.ts';
import type { ImageCopier } from '../registry/crane-copier.ts';
import type { CredentialProvider, RegistryCredential } from '../registry/credentials.ts';
import type { ManifestHead, ManifestRegistry } from '../registry/http-registry.ts';
import type { RepositoryStore } from '../ecr/repository-store.ts';

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
}

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

  const credentials = await credentialsOf(deps.credentials, [source, target]);
  if (platforms.length > 0) await copyPlatforms(job as Required<MirrorJob>, digest, platforms, deps, credentials);
  else await copyWhole(job as Required<MirrorJob>, digest, deps, credentials);
  return outcome('copied');
}

async function copyWhole(job: Required<MirrorJob>, digest: string, deps: SyncDeps, credentials: Map<string, RegistryCredential>): Promise<void> {
  // Copy by digest: what we looked at is what lands, even if the tag moves meanwhile.
  const from = formatReference(withDigest(job.source, digest));
  const to = formatReference(job.target);
  await copy(deps.copier, from, to, credentials);
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== digest) {
    throw new CopyFailedError(`copying "${from}" to "${to}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { retryable: true });
  }
}

// Only some platforms: copy each platform's image by digest, then tag an index of just those, annotated with the source digest.
async function copyPlatforms(job: Required<MirrorJob>, digest: string, platforms: readonly Platform[], deps: SyncDeps, credentials: Map<string, RegistryCredential>): Promise<void> {
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
  if (manifest.json.manifests === undefined) return copyWhole(job, digest, deps, credentials);

  let narrowed;
  try {
    narrowed = narrowIndex(manifest.json, digest, platforms);
  } catch (error) {
    throw new MirrorError(`copying platforms of "${from}": ${describeError(error)}`, { cause: error });
  }
  for (const child of narrowed.children) {
    await copy(deps.copier, formatReference(withDigest(job.source, child.digest)), formatReference(withDigest(job.target, child.digest)), credentials);
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

async function copy(copier: ImageCopier, from: string, to: string, credentials: Map<string, RegistryCredential>): Promise<void> {
  try {
    await copier.copy({ source: from, target: to, credentials });
  } catch (error) {
    throw new CopyFailedError(`copying "${from}" to "${to}": ${describeError(error)}`, { cause: error, retryable: error instanceof MirrorError ? error.retryable : true });
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

async function credentialsOf(provider: CredentialProvider, refs: ImageReference[]): Promise<Map<string, RegistryCredential>> {
  const out = new Map<string, RegistryCredential>();
  for (const ref of refs) {
    const credential = await provider.credentialsFor(ref.registry);
    if (credential) out.set(ref.registry, credential);
  }
  return out;
}
