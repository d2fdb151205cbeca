import pLimit from 'p-limit';
import { describeError, RegistryRequestError } from '../errors.ts';
import { formatReference, type ImageReference, withDigest } from '../image-ref/reference.ts';
import { cosignSuffixes, cosignTag, referrersTag, SIGSTORE_BUNDLE_ARTIFACT_TYPE, wantsReferrer } from '../oci/artifacts.ts';
import { type ArtifactCost, type CostLookup, DEFAULT_PULL_RESERVE, type RegistryBudgetSeen, singleImageCostOf, syncCostOf } from '../plan/cost.ts';
import { buildDiffReport, type DiffLookups, type DiffReport, imagesToCost, pinsToCheck } from '../plan/diff-report.ts';
import { diffPlans, editedFiles } from '../plan/diff.ts';
import { checkPinDrift, type PinDriftCheck } from '../plan/pin-drift.ts';
import { buildPlan, type PlanOptions } from '../plan/plan.ts';
import { ruleFor, type SignaturePolicy } from '../plan/policy.ts';
import type { ArtifactMode, DockerfileSource, ManifestHead, ManifestRegistry, PullBudgetSeen, ReferrerDescriptor } from '../ports.ts';

/**
 * What the cost lookups send: a HEAD per image (free on Docker Hub), and a GET for an index only; for the artifacts, a
 * HEAD per cosign tag and a referrers list (no pull), where the registry client can list them.
 */
export type CostLookupRegistry = Pick<ManifestRegistry, 'headManifest' | 'getManifest'> & Partial<Pick<ManifestRegistry, 'listReferrers'>>;

/** What comparing two trees needs: the two sources, and a registry when costs are looked up. */
export interface CompareDeps {
  readonly base: DockerfileSource;
  readonly next: DockerfileSource;
  /** Absent: no cost lookup, no registry request at all. */
  readonly registry?: CostLookupRegistry;
}

/** How two trees are compared: the plan's options, what the base is called, and how the costs are looked up. */
export interface CompareOptions extends PlanOptions {
  readonly baseLabel: string;
  /** Images looked up at once. */
  readonly concurrency?: number;
  /** Pulls of each budget the sync will keep; DEFAULT_PULL_RESERVE unless said. */
  readonly pullReserve?: number;
  /** Which artifacts the sync copies with each image, whose pulls are counted too; none unless said. */
  readonly artifacts?: ArtifactMode;
  /** The signature policy of the change: the images it covers are verified on their first copy, whose reads are counted too. */
  readonly policy?: SignaturePolicy;
}

/**
 * Plans both trees with the same options, compares them, and looks up what syncing each new image takes from its
 * source's pull budget, what budget the source says is left, and whether the tag of each new digest pin has moved on
 * upstream, for a pull request's review.
 */
export async function comparePlans(deps: CompareDeps, options: CompareOptions): Promise<DiffReport> {
  const [baseEntries, nextEntries] = await Promise.all([deps.base.list(), deps.next.list()]);
  const diff = diffPlans(buildPlan(baseEntries, options), buildPlan(nextEntries, options), editedFiles(baseEntries, nextEntries));
  const lookups = deps.registry === undefined ? undefined : await lookUpSyncCosts(imagesToCost(diff), deps.registry, {
          concurrency: options.concurrency ?? 4,
          pinned: pinsToCheck(diff),
          ...(options.artifacts === undefined ? {} : { artifacts: options.artifacts }),
          ...(options.policy === undefined ? {} : { policy: options.policy }),
        });
  return buildDiffReport(diff, lookups, options.baseLabel, options.pullReserve ?? DEFAULT_PULL_RESERVE);
}

/** How the lookups run: how many at once, and the digest pins whose tags are checked for drift. */
export interface LookupOptions {
  readonly concurrency?: number;
  /** References pinned by digest with a tag: one HEAD on each tag, sent with the cost HEADs. */
  readonly pinned?: readonly ImageReference[];
  /** Which artifacts of each image to price (cosign tags, referrers); none unless said. */
  readonly artifacts?: ArtifactMode;
  /** The signature policy: each image a rule covers is priced with the signature reads of its verification too. */
  readonly policy?: SignaturePolicy;
}

/**
 * Looks up the sync cost of each image, a few at a time: a HEAD tells the digest, the budget left and whether it is a
 * single image (one pull, no GET needed); an index, or a type the HEAD does not tell, is read by digest with one GET
 * to count its entries. The tag of each pin in `pinned` gets a HEAD of its own, beside the cost HEADs. Every HEAD is
 * answered before the first of those GETs is sent, so that no HEAD's figure races our own GETs (whether it counts them
 * could only be guessed). With `artifacts`, each image's cosign tags get a HEAD and its referrers are listed (no pull)
 * beside them too; a source that serves no referrers API has its referrers tag read with one GET, among the others.
 * An image `policy` covers is probed the same way for the signatures its verification reads, whatever the mode.
 * Never throws: a failed lookup is reported on its image.
 */
export async function lookUpSyncCosts(images: readonly ImageReference[], registry: CostLookupRegistry, options: LookupOptions = {}): Promise<DiffLookups> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  const unique = [...new Map(images.map((ref) => [formatReference(ref), ref])).entries()];
  const pins = [...new Map((options.pinned ?? []).map((ref) => [formatReference(ref), ref])).entries()];
  const budgets = new BudgetWatch();
  const [heads, drift] = await Promise.all([
    Promise.all(unique.map(([name, ref]) => limit(() => lookUpHead(name, ref, registry, budgets)))),
    Promise.all(pins.map(([name, ref]) => limit(async (): Promise<[string, PinDriftCheck]> => [name, await checkPinDrift(watchedHeads(registry, budgets), ref)]))),
  ]);
  const mode = options.artifacts ?? 'none';
  const covered = (ref: ImageReference) => options.policy !== undefined && ruleFor(options.policy, ref) !== undefined;
  const probes = await Promise.all(heads.map((looked, i) => limit(() => probeArtifacts(unique[i]![1], digestOf(looked), { mode, verify: covered(unique[i]![1]) }, registry, budgets))));
  const results = await Promise.all(
    heads.map((looked, i) =>
      limit(async (): Promise<[string, CostLookup]> => {
        const cost = 'cost' in looked ? looked.cost : await lookUpIndex(looked, registry, budgets);
        return [looked.name, await withArtifacts(looked.name, cost, probes[i], registry, budgets)];
      }),
    ),
  );
  const priced = mode !== 'none' || unique.some(([, ref]) => covered(ref));
  return { costs: new Map(results), budgets: budgets.seen(), pinDrift: new Map(drift), ...(priced ? { artifacts: mode } : {}) };
}

/** The registry's HEADs with what each spends and tells of the budget noted, as the cost HEADs note theirs. */
function watchedHeads(registry: CostLookupRegistry, budgets: BudgetWatch): Pick<ManifestRegistry, 'headManifest'> {
  return {
    async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
      const counted = budgets.counted(ref.registry);
      const head = await registry.headManifest(ref);
      if (head === undefined) return undefined;
      // A registry that answers no HEAD was asked by GET: that one is counted, and its figure counts it already.
      budgets.spent(ref.registry, head.pullsSpent ?? 0);
      budgets.observe(ref.registry, head.budget, counted + (head.pullsSpent ?? 0));
      return head;
    },
  };
}

/** An image whose HEAD said it may be an index: its entries are counted by a GET of it. */
interface IndexToRead {
  readonly name: string;
  readonly ref: ImageReference;
  readonly digest: string;
  readonly lookupGets: number;
}

/** The HEAD of one image: its cost when that tells it (or the failure), else the index to read. */
async function lookUpHead(name: string, ref: ImageReference, registry: CostLookupRegistry, budgets: BudgetWatch): Promise<IndexToRead | { readonly name: string; readonly cost: CostLookup }> {
  let lookupGets = 0;
  try {
    const head = await watchedHeads(registry, budgets).headManifest(ref);
    if (head === undefined) return { name, cost: failedLookup(name, 'no such image (404)', true, lookupGets) };
    lookupGets += head.pullsSpent ?? 0;
    const single = singleImageCostOf(head);
    if (single !== undefined) return { name, cost: { cost: single, lookupGets } };
    return { name, ref, digest: head.digest, lookupGets };
  } catch (error) {
    return { name, cost: failedLookup(name, describeError(error), error instanceof RegistryRequestError && error.status === 404, lookupGets) };
  }
}

/** The cost of an index, from one GET of it by digest. */
async function lookUpIndex(index: IndexToRead, registry: CostLookupRegistry, budgets: BudgetWatch): Promise<CostLookup> {
  const lookupGets = index.lookupGets + 1;
  try {
    const manifest = await budgets.getting(index.ref.registry, () => registry.getManifest(withDigest(index.ref, index.digest)));
    if (manifest === undefined) return failedLookup(index.name, 'no such image (404)', true, lookupGets);
    return { cost: syncCostOf(index.digest, manifest.json), lookupGets };
  } catch (error) {
    return failedLookup(index.name, describeError(error), error instanceof RegistryRequestError && error.status === 404, lookupGets);
  }
}

/** The digest an image's HEAD told, when it got that far. */
function digestOf(looked: IndexToRead | { readonly cost: CostLookup }): string | undefined {
  return 'cost' in looked ? looked.cost.cost?.digest : looked.digest;
}

/** What the free look-ups found of an image's artifacts: the cosign tags present, the referrers wanted, or the tag index to read. */
interface ArtifactProbe {
  readonly mode: ArtifactMode;
  /** True when a policy rule covers the image: its first copy reads its signatures to verify them. */
  readonly verify: boolean;
  /** The cosign tags the mode copies that the source holds. */
  readonly cosignTags: number;
  /** True when the source holds the `.sig` tag, which the verification reads (one GET). */
  readonly sigTag: boolean;
  /** The referrers the mode copies, and the Sigstore bundles among them that the verification reads (one GET each). */
  readonly referrers: number;
  readonly bundles: number;
  /** False for a source that serves no referrers API: the sync reads its referrers tag's index instead. */
  readonly referrersApi: boolean;
  /** The referrers tag (`sha256-<hex>`) of a source that serves no referrers API, when it exists: its index is read by GET. */
  readonly tagIndex?: ImageReference;
  /** GETs a registry without HEAD answered the probes' HEADs with. */
  readonly lookupGets: number;
  readonly error?: string;
}

/**
 * HEADs the cosign tags the mode copies (and `.sig` for an image the policy covers) and lists the digest's referrers,
 * as the sync detects them; where the source serves no referrers API, HEADs its referrers tag. Nothing here is a pull
 * (but a registry that answers no HEAD).
 */
async function probeArtifacts(
  ref: ImageReference,
  digest: string | undefined,
  what: { readonly mode: ArtifactMode; readonly verify: boolean },
  registry: CostLookupRegistry,
  budgets: BudgetWatch,
): Promise<ArtifactProbe | undefined> {
  const { mode, verify } = what;
  if ((mode === 'none' && !verify) || digest === undefined) return undefined;
  const heads = watchedHeads(registry, budgets);
  const tagged = (tag: string): ImageReference => ({ registry: ref.registry, repository: ref.repository, tag });
  const suffixes = cosignSuffixes(mode);
  const found = { mode, verify, cosignTags: 0, sigTag: false, referrers: 0, bundles: 0, referrersApi: true, lookupGets: 0 };
  try {
    for (const suffix of verify && !suffixes.includes('sig') ? [...suffixes, 'sig' as const] : suffixes) {
      const head = await heads.headManifest(tagged(cosignTag(digest, suffix)));
      found.lookupGets += head?.pullsSpent ?? 0;
      if (head === undefined) continue;
      if (suffixes.includes(suffix)) found.cosignTags += 1;
      if (suffix === 'sig') found.sigTag = true;
    }
    const listed = await registry.listReferrers?.(withDigest(ref, digest));
    if (listed !== undefined) return { ...found, ...countReferrers(mode, listed) };
    const tag = tagged(referrersTag(digest));
    const head = await heads.headManifest(tag);
    found.lookupGets += head?.pullsSpent ?? 0;
    return { ...found, referrersApi: false, ...(head === undefined ? {} : { tagIndex: tag }) };
  } catch (error) {
    return { ...found, error: describeError(error) };
  }
}

/** The referrers a mode copies, and the Sigstore bundles among all of them (what a verification reads). */
function countReferrers(mode: ArtifactMode, referrers: readonly ReferrerDescriptor[]): { referrers: number; bundles: number } {
  return { referrers: referrers.filter((referrer) => wantsReferrer(mode, referrer)).length, bundles: referrers.filter((referrer) => referrer.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE).length };
}

/**
 * The image's cost with its artifacts' added: the referrers tag's index read (one GET) where the probe found one. The
 * copies count one pull each, and the referrers tag's index one when there is one to copy. An image the policy covers
 * adds the GETs of its verification on a first copy: the `.sig` manifest when the tag is there, each Sigstore bundle
 * referrer's manifest, and the referrers tag's index where the source serves no referrers API (read whether or not it
 * exists). That is the most the verification reads: it stops at the first signature it accepts.
 */
async function withArtifacts(name: string, cost: CostLookup, probe: ArtifactProbe | undefined, registry: CostLookupRegistry, budgets: BudgetWatch): Promise<CostLookup> {
  if (probe === undefined) return cost;
  const failed = (error: string, gets: number): CostLookup => ({ ...cost, artifactsError: `looking up the signatures of "${name}": ${error}`, lookupGets: cost.lookupGets + gets });
  if (probe.error !== undefined) return failed(probe.error, probe.lookupGets);
  let { referrers, bundles, lookupGets } = probe;
  if (probe.tagIndex !== undefined) {
    lookupGets += 1;
    try {
      const tagIndex = probe.tagIndex;
      const index = await budgets.getting(tagIndex.registry, () => registry.getManifest(tagIndex));
      // Loose descriptors keep the `artifactType` the referrers tag's index gives each entry.
      ({ referrers, bundles } = countReferrers(probe.mode, (index?.json.manifests ?? []) as readonly ReferrerDescriptor[]));
    } catch (error) {
      return failed(describeError(error), lookupGets);
    }
  }
  // The sync reads the referrers tag's index too (when the target's differs): one pull, as each artifact it copies.
  const copies = probe.cosignTags + referrers + (probe.tagIndex !== undefined && probe.mode !== 'none' ? 1 : 0);
  const verification = probe.verify ? (probe.sigTag ? 1 : 0) + bundles + (probe.referrersApi ? 0 : 1) : 0;
  const artifacts: ArtifactCost = { cosignTags: probe.cosignTags, referrers, ...(probe.verify ? { verification } : {}), pulls: copies + verification };
  return { ...cost, artifacts, lookupGets: cost.lookupGets + lookupGets };
}

function failedLookup(name: string, error: string, notFound: boolean, lookupGets: number): CostLookup {
  return { error: `looking up "${name}": ${error}`, ...(notFound ? { notFound } : {}), lookupGets };
}

/**
 * The pull budget each registry told in the lookups' HEADs, as it stands once the lookups' own GETs are counted. A
 * HEAD's figure surely counts the GETs that had ended before it was sent; any other GET is taken off it again. Of all
 * the figures so corrected the lowest is kept: when unsure, fewer pulls are left rather than more.
 */
class BudgetWatch {
  private readonly registries = new Map<string, { sent: number; ended: number; lowest?: { seen: PullBudgetSeen; counted: number } }>();

  /** GETs on `registry` that have ended: a HEAD sent now counts them. */
  counted(registry: string): number {
    return this.of(registry).ended;
  }

  /** GETs already sent and ended: a HEAD that the registry had to answer by GET. */
  spent(registry: string, gets: number): void {
    const state = this.of(registry);
    state.sent += gets;
    state.ended += gets;
  }

  /** Sends a GET on `registry`, counted as sent now and as ended when it has. */
  async getting<T>(registry: string, get: () => Promise<T>): Promise<T> {
    const state = this.of(registry);
    state.sent += 1;
    try {
      return await get();
    } finally {
      state.ended += 1;
    }
  }

  /** A HEAD's reading, which counts the `counted` GETs that had ended before it was sent. */
  observe(registry: string, seen: PullBudgetSeen | undefined, counted: number): void {
    if (seen === undefined) return;
    const state = this.of(registry);
    // Corrected, a figure is `remaining + counted - sent` at the end: the lowest `remaining + counted` gives the lowest.
    if (state.lowest === undefined || seen.remaining + counted < state.lowest.seen.remaining + state.lowest.counted) state.lowest = { seen, counted };
  }

  /** Each registry's budget once the lookups' own GETs are counted. */
  seen(): RegistryBudgetSeen[] {
    return [...this.registries].flatMap(([registry, state]) => {
      if (state.lowest === undefined) return [];
      const { seen, counted } = state.lowest;
      return [{ registry, ...seen, remaining: Math.max(0, seen.remaining + counted - state.sent) }];
    });
  }

  private of(registry: string) {
    let state = this.registries.get(registry);
    if (state === undefined) this.registries.set(registry, (state = { sent: 0, ended: 0 }));
    return state;
  }
}
