import { parseEcrRegistry, type TargetBase } from '../image-ref/target.ts';
import { CraneImageCopier } from '../registry/crane-copier.ts';
import { ChainedCredentialProvider, StaticCredentialProvider } from '../registry/credentials.ts';
import { HttpRegistryClient } from '../registry/http-registry.ts';
import { networkFromEnvironment } from '../registry/network.ts';
import type { SyncDeps } from '../sync/mirror-image.ts';
import type { CredentialProvider, RegistryCredential, RepositoryStore } from '../ports.ts';
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
  let repositories: RepositoryStore | undefined;
  if (wiring.ecr || ecrHost) {
    const ecr = lazyEcrAdapters(loadEcrAdapters(wiring, ecrHost), wiring.target.registry);
    repositories = ecr.repositories;
    providers.unshift(ecr.credentials);
  }
  const credentials = new ChainedCredentialProvider(...providers);
  return {
    registry: new HttpRegistryClient({ credentials, ...networkFromEnvironment(), ...(wiring.retry ? { retry: wiring.retry } : {}), ...(wiring.signal ? { signal: wiring.signal } : {}) }),
    copier: new CraneImageCopier({ crane: wiring.crane, timeoutMs: wiring.copyTimeoutMs }),
    credentials,
    ...(repositories ? { repositories } : {}),
  };
}

/** The ECR adapters of one target registry, sharing one client. */
interface EcrAdapters {
  readonly repositories: RepositoryStore;
  readonly credentials: CredentialProvider;
}

// The AWS SDK takes longer to evaluate than the rest of the CLI together: only an ECR target loads it, so that a sync
// into any other registry (and `mirror --help`) never does.
async function loadEcrAdapters(wiring: SyncWiring, ecrHost: { accountId: string; region: string } | undefined): Promise<EcrAdapters> {
  const [{ ECRClient }, { EcrRepositoryStore }, { EcrCredentialProvider }] = await Promise.all([
    // The SDK is loaded as CommonJS: where the CLI's bundle is split into chunks, its exports come under `default` only.
    import('@aws-sdk/client-ecr').then((loaded) => (loaded as unknown as { default?: typeof loaded }).default ?? loaded),
    import('../ecr/repository-store.ts'),
    import('../ecr/authorization.ts'),
  ]);
  const region = ecrHost?.region ?? wiring.region;
  const client = new ECRClient(region === undefined ? {} : { region });
  return {
    repositories: new EcrRepositoryStore(client, { ...(ecrHost ? { registryId: ecrHost.accountId } : {}), ...(wiring.kmsKey ? { kmsKey: wiring.kmsKey } : {}) }),
    credentials: new EcrCredentialProvider(client, wiring.target.registry, ecrHost?.accountId),
  };
}

// The adapters behind their ports at once, each call waiting for the load; the load starts now, so that a Lambda's cold
// start still pays for the SDK in its init phase, not in its first invocation.
function lazyEcrAdapters(loading: Promise<EcrAdapters>, target: string): EcrAdapters {
  let loaded: EcrAdapters | undefined;
  // A failed load is reported by the first call that needs the adapters, not as an unhandled rejection.
  loading.then((adapters) => (loaded = adapters)).catch(() => undefined);
  return {
    repositories: { ensure: async (repository, source) => (await loading).repositories.ensure(repository, source) },
    credentials: {
      // Only the target's: another registry is answered at once, not after the SDK has loaded.
      credentialsFor: async (registry) => (registry === target ? (await loading).credentials.credentialsFor(registry) : undefined),
      // Before the load nothing was fetched, so nothing is cached to forget.
      invalidate: (registry) => loaded?.credentials.invalidate?.(registry),
    },
  };
}
