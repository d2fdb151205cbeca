import type { TargetBase } from '../image-ref/target.ts';
import { CraneImageCopier } from '../registry/crane-copier.ts';
import { ChainedCredentialProvider, StaticCredentialProvider } from '../registry/credentials.ts';
import { HttpRegistryClient } from '../registry/http-registry.ts';
import { networkFromEnvironment } from '../registry/network.ts';
import type { SyncDeps } from '../sync/mirror-image.ts';
import { createImageVerifier } from '../signatures/verify-image.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';
import type { RetryPolicy } from '../retry.ts';
import { ecrAdapters } from './ecr.ts';

// shared/wiring/ is the only place SDK clients and adapters are constructed; one module per entry point keeps bundles small.

/** For a second Ctrl-C: every running crane ended and its credentials removed, synchronously, before the process exits. */
export { stopCopiesNow } from '../registry/crane-copier.ts';

/** Everything needed to build the sync adapters. */
export interface SyncWiring {
  readonly target: TargetBase;
  /** Treat the target as ECR even when its host does not say so (an emulator, a proxy). */
  readonly ecr: boolean;
  readonly crane: string;
  readonly copyTimeoutMs: number;
  readonly credentials: ReadonlyMap<string, RegistryCredential>;
  /** More credential sources after the static ones, e.g. a Secrets Manager secret. */
  readonly moreCredentials?: readonly CredentialProvider[];
  readonly kmsKey?: string;
  readonly region?: string;
  readonly retry?: RetryPolicy;
  /** Aborted when the run is interrupted: requests in flight stop. A function where each invocation has its own (Lambda). */
  readonly signal?: AbortSignal | (() => AbortSignal | undefined);
  /** Told each crane command as it starts (`mirror sync --verbose`); it never holds a secret. */
  readonly onCraneCommand?: (argv: readonly string[]) => void;
}

/** The only place SDK clients and adapters are constructed. */
export function createSyncDeps(wiring: SyncWiring): SyncDeps {
  const providers: CredentialProvider[] = [new StaticCredentialProvider(wiring.credentials), ...(wiring.moreCredentials ?? [])];
  const ecr = ecrAdapters(wiring);
  if (ecr) providers.unshift(ecr.credentials);
  const credentials = new ChainedCredentialProvider(...providers);
  return {
    registry: new HttpRegistryClient({ credentials, ...networkFromEnvironment(), ...(wiring.retry ? { retry: wiring.retry } : {}), ...(wiring.signal ? { signal: wiring.signal } : {}) }),
    copier: new CraneImageCopier({ crane: wiring.crane, timeoutMs: wiring.copyTimeoutMs, ...(wiring.onCraneCommand ? { onCommand: wiring.onCraneCommand } : {}) }),
    credentials,
    // Used only for the images a signature policy rule covers; the others are mirrored as they are.
    verifier: createImageVerifier(),
    ...(ecr ? { repositories: ecr.repositories } : {}),
  };
}
