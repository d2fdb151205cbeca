import { parseEcrRegistry, type TargetBase } from '../image-ref/target.ts';
import type { CredentialProvider, RepositoryStore } from '../ports.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';

// The ECR adapters of the sync, and the repository store alone for what only lists repositories (`mirror orphans`).

/** What the ECR adapters need: the target, its region where the host does not tell it, the KMS key of new repositories. */
export interface EcrWiring {
  readonly target: TargetBase;
  /** Treat the target as ECR even when its host does not say so (an emulator, a proxy). */
  readonly ecr: boolean;
  readonly region?: string;
  readonly kmsKey?: string;
}

/** The ECR adapters of one target registry, sharing one client. */
export interface EcrAdapters {
  readonly repositories: RepositoryStore;
  readonly credentials: CredentialProvider;
}

/** True when the target is ECR: by its host, or because the caller says so. */
export function isEcrTarget(wiring: Pick<EcrWiring, 'target' | 'ecr'>): boolean {
  return wiring.ecr || parseEcrRegistry(wiring.target.registry) !== undefined;
}

/**
 * The ECR adapters behind their ports at once, the SDK loading meanwhile; undefined for a target that is not ECR. The
 * load starts now, so that a Lambda's cold start still pays for the SDK in its init phase, not in its first invocation.
 */
export function ecrAdapters(wiring: EcrWiring): EcrAdapters | undefined {
  if (!isEcrTarget(wiring)) return undefined;
  return lazyEcrAdapters(loadEcrAdapters(wiring), wiring.target.registry);
}

// The AWS SDK takes longer to evaluate than the rest of the CLI together: only an ECR target loads it, so that a sync
// into any other registry (and `mirror --help`) never does.
async function loadEcrAdapters(wiring: EcrWiring): Promise<EcrAdapters> {
  const ecrHost = parseEcrRegistry(wiring.target.registry);
  const [{ ECRClient }, { EcrRepositoryStore }, { EcrCredentialProvider }] = await Promise.all([
    // The SDK is loaded as CommonJS: where the CLI's bundle is split into chunks, its exports come under `default` only.
    import('@aws-sdk/client-ecr').then((loaded) => (loaded as unknown as { default?: typeof loaded }).default ?? loaded),
    import('../ecr/repository-store.ts'),
    import('../ecr/authorization.ts'),
  ]);
  const region = ecrHost?.region ?? wiring.region;
  const client = new ECRClient({ ...AWS_CLIENT_SETTINGS, ...(region === undefined ? {} : { region }) });
  return {
    repositories: new EcrRepositoryStore(client, { ...(ecrHost ? { registryId: ecrHost.accountId } : {}), ...(wiring.kmsKey ? { kmsKey: wiring.kmsKey } : {}) }),
    credentials: new EcrCredentialProvider(client, wiring.target.registry, ecrHost?.accountId),
  };
}

function lazyEcrAdapters(loading: Promise<EcrAdapters>, target: string): EcrAdapters {
  let loaded: EcrAdapters | undefined;
  // A failed load is reported by the first call that needs the adapters, not as an unhandled rejection.
  loading.then((adapters) => (loaded = adapters)).catch(() => undefined);
  return {
    repositories: {
      check: async (repository, source) => (await loading).repositories.check(repository, source),
      ensure: async (repository, source) => (await loading).repositories.ensure(repository, source),
      listManaged: async (prefix, except) => (await loading).repositories.listManaged(prefix, except),
    },
    credentials: {
      // Only the target's: another registry is answered at once, not after the SDK has loaded.
      credentialsFor: async (registry) => (registry === target ? (await loading).credentials.credentialsFor(registry) : undefined),
      // Before the load nothing was fetched, so nothing is cached to forget.
      invalidate: (registry) => loaded?.credentials.invalidate?.(registry),
    },
  };
}

/** The repository store of an ECR target alone, for what only lists repositories (`mirror orphans`); see isEcrTarget(). */
export function ecrRepositoryStore(wiring: Omit<EcrWiring, 'kmsKey' | 'ecr'>): RepositoryStore {
  const ecr = { ...wiring, ecr: true };
  return lazyEcrAdapters(loadEcrAdapters(ecr), ecr.target.registry).repositories;
}
