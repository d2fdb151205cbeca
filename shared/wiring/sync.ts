import { ECRClient } from '@aws-sdk/client-ecr';
import { EcrCredentialProvider } from '../ecr/authorization.ts';
import { EcrRepositoryStore } from '../ecr/repository-store.ts';
import { parseEcrRegistry, type TargetBase } from '../image-ref/target.ts';
import { CraneImageCopier } from '../registry/crane-copier.ts';
import { ChainedCredentialProvider, StaticCredentialProvider } from '../registry/credentials.ts';
import { HttpRegistryClient } from '../registry/http-registry.ts';
import { networkFromEnvironment } from '../registry/network.ts';
import type { SyncDeps } from '../sync/mirror-image.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';
import type { RetryPolicy } from '../retry.ts';

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
  /** Aborted when the run is interrupted: requests and copies in flight stop. */
  readonly signal?: AbortSignal;
}

/** The only place SDK clients and adapters are constructed. */
export function createSyncDeps(wiring: SyncWiring): SyncDeps {
  const ecrHost = parseEcrRegistry(wiring.target.registry);
  const providers: CredentialProvider[] = [new StaticCredentialProvider(wiring.credentials), ...(wiring.moreCredentials ?? [])];
  let repositories: EcrRepositoryStore | undefined;
  if (wiring.ecr || ecrHost) {
    const region = ecrHost?.region ?? wiring.region;
    const client = new ECRClient(region === undefined ? {} : { region });
    repositories = new EcrRepositoryStore(client, { ...(ecrHost ? { registryId: ecrHost.accountId } : {}), ...(wiring.kmsKey ? { kmsKey: wiring.kmsKey } : {}) });
    providers.unshift(new EcrCredentialProvider(client, wiring.target.registry, ecrHost?.accountId));
  }
  const credentials = new ChainedCredentialProvider(...providers);
  return {
    registry: new HttpRegistryClient({ credentials, ...networkFromEnvironment(wiring.signal), ...(wiring.retry ? { retry: wiring.retry } : {}), ...(wiring.signal ? { signal: wiring.signal } : {}) }),
    copier: new CraneImageCopier({ crane: wiring.crane, timeoutMs: wiring.copyTimeoutMs }),
    credentials,
    ...(repositories ? { repositories } : {}),
  };
}

