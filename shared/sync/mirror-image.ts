import { CopyFailedError, describeError, MirrorError, RegistryRequestError, SourceRateLimitedError } from '../errors.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import type { MirrorJob } from '../plan/plan.ts';
import type { ImageCopier } from '../registry/crane-copier.ts';
import type { CredentialProvider, RegistryCredential } from '../registry/credentials.ts';
import type { DigestLookup } from '../registry/http-registry.ts';
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
  readonly registry: DigestLookup;
  readonly copier: ImageCopier;
  readonly credentials: CredentialProvider;
  /** Present for ECR targets only: a generic OCI registry creates repositories on push. */
  readonly repositories?: RepositoryStore;
}

export interface SyncOptions {
  readonly dryRun?: boolean;
  /** Copy only this platform out of a multi-platform index (`os/arch[/variant]`). */
  readonly platform?: string;
}

/**
 * Mirrors one image: ensures the target repository, compares digests by HEAD on both sides (no pull
 * spent when they match), otherwise copies the exact source digest and checks what landed.
 * Throws a MirrorError that names the image and the step that failed.
 */
export async function mirrorImage(job: MirrorJob, deps: SyncDeps, options: SyncOptions = {}): Promise<MirrorOutcome> {
  const { source, target } = job;
  if (target === undefined) throw new MirrorError(`mirroring "${formatReference(source)}": the job has no target`);
  const sourceText = formatReference(source);
  const targetText = formatReference(target);

  let repositoryCreated = false;
  if (deps.repositories && !options.dryRun) {
    repositoryCreated = (await deps.repositories.ensure(target.repository, `${source.registry}/${source.repository}`)) === 'created';
  }

  // A narrowed copy lands a different digest than the source index, so it cannot be compared with it.
  const comparable = options.platform === undefined;
  const [sourceHead, targetHead] = await Promise.all([
    source.digest !== undefined ? Promise.resolve({ digest: source.digest }) : lookup(deps.registry, source, 'source'),
    comparable ? lookup(deps.registry, target, 'target') : Promise.resolve(undefined),
  ]);
  if (sourceHead === undefined) {
    throw new RegistryRequestError(`looking up source "${sourceText}": no such image (404)`, { status: 404 });
  }
  const digest = sourceHead.digest;
  const extra = {
    ...('rateLimitRemaining' in sourceHead && sourceHead.rateLimitRemaining !== undefined ? { rateLimitRemaining: sourceHead.rateLimitRemaining } : {}),
    ...(repositoryCreated ? { repositoryCreated } : {}),
  };

  if (targetHead?.digest === digest) return { status: options.dryRun ? 'would-skip' : 'skipped', digest, ...extra };
  if (options.dryRun) return { status: 'would-copy', digest, ...extra };

  // Copy by digest: what we looked at is what lands, even if the tag moves meanwhile.
  const from = formatReference(withDigest(source, digest));
  try {
    await deps.copier.copy({
      source: from,
      target: targetText,
      ...(options.platform !== undefined ? { platform: options.platform } : {}),
      credentials: await credentialsOf(deps.credentials, [source, target]),
    });
  } catch (error) {
    throw new CopyFailedError(`copying "${from}" to "${targetText}": ${describeError(error)}`, { cause: error, retryable: error instanceof MirrorError ? error.retryable : true });
  }

  const landed = await lookup(deps.registry, target, 'target');
  if (comparable && landed?.digest !== digest) {
    throw new CopyFailedError(`copying "${from}" to "${targetText}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { retryable: true });
  }
  return { status: 'copied', digest, ...extra };
}

async function lookup(registry: DigestLookup, ref: ImageReference, side: 'source' | 'target') {
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
