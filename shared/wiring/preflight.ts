import { parseEcrRegistry } from '../image-ref/target.ts';
import { CraneImageCopier } from '../registry/crane-copier.ts';
import type { SyncDeps } from '../sync/mirror-image.ts';
import type { PreflightChecks } from '../sync/preflight.ts';
import { AWS_CLIENT_SETTINGS } from './aws-clients.ts';
import { isEcrTarget } from './ecr.ts';
import type { SyncWiring } from './sync.ts';

// The preflight of `mirror sync` (shared/sync/preflight.ts) over the sync's own adapters: what it fetches (the ECR token,
// the target's login) is what the sync then finds cached.

/** What the checks need besides the sync's adapters: the wiring createSyncDeps() was given; its stop signal stops `crane version`. */
export type PreflightWiring = Pick<SyncWiring, 'target' | 'ecr' | 'crane' | 'region'> & { readonly signal?: AbortSignal };

/** `crane version` answers at once; one that hangs this long will not copy anything either. */
const CRANE_VERSION_TIMEOUT_MS = 30_000;

/** The preflight's checks, run through `deps`, the adapters the sync itself uses. */
export function preflightChecks(wiring: PreflightWiring, deps: SyncDeps): PreflightChecks {
  const host = wiring.target.registry;
  const ecr = isEcrTarget(wiring)
    ? {
        region: () => ecrRegion(wiring),
        // The sync's own provider: the token is cached there for the run, not fetched again by the first image.
        login: async () => {
          await deps.credentials.credentialsFor(host);
        },
      }
    : undefined;
  return {
    // The copier's own way of running crane: its environment, its process group, its handling of a stop.
    runCrane: () => new CraneImageCopier({ crane: wiring.crane }).version(CRANE_VERSION_TIMEOUT_MS, wiring.signal),
    ...(ecr ? { ecr } : {}),
    reachTarget: async (ref) => {
      await deps.registry.headManifest(ref);
    },
  };
}

/** The region the ECR client will use: the target host's, the environment's, else the SDK's own (AWS_REGION, the profile's); undefined when none. */
async function ecrRegion(wiring: PreflightWiring): Promise<string | undefined> {
  const region = parseEcrRegistry(wiring.target.registry)?.region ?? wiring.region;
  if (region !== undefined) return region;
  // Already loading for the ECR adapters: this import costs nothing more. CommonJS, its exports under `default` in a bundle.
  const sdk = await import('@aws-sdk/client-ecr');
  const { ECRClient } = (sdk as unknown as { default?: typeof sdk }).default ?? sdk;
  const client = new ECRClient({ ...AWS_CLIENT_SETTINGS });
  try {
    return (await client.config.region()) || undefined;
  } catch {
    // "Region is missing": the SDK found none in the environment or the profile.
    return undefined;
  } finally {
    client.destroy();
  }
}
