import { formatPlatform } from '../oci/platform.ts';
import { DOCKER_HUB, type ImageReference } from '../image-ref/reference.ts';
import { isImageManifestMediaType, type ManifestJson } from '../oci/manifest.ts';
import type { ManifestHead, PullBudgetSeen } from '../ports.ts';

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
  /**
   * What the sync takes from the source's pull budget for the copy: one pull per manifest GET, so `manifestGets`.
   * At least what Docker Hub counts, which counts a multi-platform pull once per architecture.
   */
  readonly pulls: number;
}

/**
 * What copying an image's signatures and other artifacts costs on its source, as the mode chosen takes them: each one
 * copied is a manifest GET, and reading a referrers tag's index (a source that serves no referrers API) one more.
 */
export interface ArtifactCost {
  /** cosign tags of the digest (`sha256-<hex>.sig`, and with `all` `.att` and `.sbom`) the source holds. */
  readonly cosignTags: number;
  /** Referrers of the digest the mode copies (Sigstore bundles and Notary signatures; with `all`, every one). */
  readonly referrers: number;
  /**
   * For an image the signature policy covers: the manifest GETs its verification spends on a first copy (the `.sig`
   * manifest, each Sigstore bundle referrer, the referrers tag's index where the source serves no referrers API).
   */
  readonly verification?: number;
  /** Pulls the sync takes for them: one per artifact, one for the referrers tag's index where there is one to read, and the verification's. */
  readonly pulls: number;
}

/** The cost of one image as looked up, or why it could not be. */
export interface CostLookup {
  readonly cost?: SyncCost;
  /** What its signatures and other artifacts cost; absent when none were looked up (`--artifacts none`) or the lookup failed. */
  readonly artifacts?: ArtifactCost;
  /** Why its artifacts could not be looked up: the image's own cost stands, the total is then a lower bound. */
  readonly artifactsError?: string;
  readonly error?: string;
  /** True when the registry has no such image: the sync would fail on it. */
  readonly notFound?: boolean;
  /** Manifest GETs the lookup itself sent to the source (each a counted pull on Docker Hub); its HEAD is free. */
  readonly lookupGets: number;
}

/** A source registry's pull budget as the lookups left it. */
export interface RegistryBudgetSeen extends PullBudgetSeen {
  readonly registry: string;
}

/** What the cost lookups of a change found: each image's cost by reference, and the budgets the sources told. */
export interface CostLookups {
  readonly costs: ReadonlyMap<string, CostLookup>;
  /** One per registry that sent a budget (none for a registry that counts no pulls, such as a paid Docker Hub account). */
  readonly budgets: readonly RegistryBudgetSeen[];
}

/** The sync cost of an image from its manifest or index. Pure. */
export function syncCostOf(digest: string, manifest: ManifestJson): SyncCost {
  const entries = manifest.manifests;
  if (entries === undefined) return { digest, index: false, platforms: [], manifestGets: 1, pulls: 1 };
  const images = entries.filter((entry) => !isAttestation(entry));
  const platforms = [...new Set(images.map((entry) => (entry.platform ? formatPlatform(entry.platform) : 'unknown')))].sort();
  return { digest, index: true, platforms, manifestGets: 1 + entries.length, pulls: 1 + entries.length };
}

/**
 * The sync cost of a single image from its HEAD alone, when its Content-Type is an image manifest's; undefined for an
 * index or an unknown type, which only the manifest itself tells the cost of. Pure.
 */
export function singleImageCostOf(head: Pick<ManifestHead, 'digest' | 'mediaType'>): SyncCost | undefined {
  if (!isImageManifestMediaType(head.mediaType)) return undefined;
  return { digest: head.digest, index: false, platforms: [], manifestGets: 1, pulls: 1 };
}

/** True when the source is Docker Hub, whose manifest GETs count against the pull limit. */
export function isDockerHub(ref: ImageReference): boolean {
  return ref.registry === DOCKER_HUB;
}

// BuildKit attaches provenance and SBOMs as index entries for platform unknown/unknown; crane copies them too.
function isAttestation(entry: NonNullable<ManifestJson['manifests']>[number]): boolean {
  return entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (entry.platform?.os === 'unknown' && entry.platform.architecture === 'unknown');
}
