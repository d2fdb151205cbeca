import { formatPlatform } from '../oci/platform.ts';
import { DOCKER_HUB, type ImageReference } from '../image-ref/reference.ts';
import type { ManifestJson } from '../oci/manifest.ts';

/** Docker Hub's pull limits (per source IP anonymous, per account authenticated), each over a 6-hour window. */
export const DOCKER_HUB_PULL_LIMITS = Object.freeze({ anonymous: 100, authenticated: 200, windowHours: 6 });

/** Pulls of a source's budget a sync keeps for others unless told otherwise: a fifth of an anonymous budget, a tenth of a logged-in one. */
export const DEFAULT_PULL_RESERVE = 20;

/** What copying one image costs on its source registry. */
export interface SyncCost {
  /** Digest of the manifest or index the sync would copy. */
  readonly digest: string;
  /** True for a multi-platform index. */
  readonly index: boolean;
  /** `os/arch[/variant]` of each image of an index, attestations left out; empty for a single image (its platform is in its config blob). */
  readonly platforms: readonly string[];
  /** Manifest GETs a whole copy sends to the source: the index and each of its entries, or the one manifest. */
  readonly manifestGets: number;
  /** Docker Hub's count: a multi-platform pull counts once per platform pulled, a single image once. */
  readonly pulls: number;
}

/** The cost of one image as looked up, or why it could not be. */
export interface CostLookup {
  readonly cost?: SyncCost;
  readonly error?: string;
  /** True when the registry has no such image: the sync would fail on it. */
  readonly notFound?: boolean;
  /** Manifest GETs the lookup itself sent to the source (each a counted pull on Docker Hub). */
  readonly lookupGets: number;
}

/** The sync cost of an image from its manifest or index. Pure. */
export function syncCostOf(digest: string, manifest: ManifestJson): SyncCost {
  const entries = manifest.manifests;
  if (entries === undefined) return { digest, index: false, platforms: [], manifestGets: 1, pulls: 1 };
  const images = entries.filter((entry) => !isAttestation(entry));
  const platforms = [...new Set(images.map((entry) => (entry.platform ? formatPlatform(entry.platform) : 'unknown')))].sort();
  return { digest, index: true, platforms, manifestGets: 1 + entries.length, pulls: Math.max(1, images.length) };
}

/** True when the source is Docker Hub, whose manifest GETs count against the pull limit. */
export function isDockerHub(ref: ImageReference): boolean {
  return ref.registry === DOCKER_HUB;
}

// BuildKit attaches provenance and SBOMs as index entries for platform unknown/unknown; crane copies them too.
function isAttestation(entry: NonNullable<ManifestJson['manifests']>[number]): boolean {
  return entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (entry.platform?.os === 'unknown' && entry.platform.architecture === 'unknown');
}
