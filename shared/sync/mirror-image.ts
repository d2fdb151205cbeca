import pLimit from 'p-limit';
import { CopyFailedError, DeferredError, describeError, InterruptedError, UnverifiedError, isAuthFailure, isDeferral, isInterruption, isPullLimitRefusal, mayRetry, MirrorError, PlatformNotFoundError, PullLimitError, RateLimitedError, RegistryRequestError, SourceRateLimitedError } from '../errors.ts';
import { isImageManifestMediaType, type ManifestDescriptor, OCI_INDEX } from '../oci/manifest.ts';
import { isNarrowedCopyOf, narrowIndex, type Platform, platformsKey } from '../oci/platform.ts';
import { formatReference, type ImageReference, repositoryName, withDigest } from '../image-ref/reference.ts';
import type { MirrorJob, Plan } from '../plan/plan.ts';
import { checkPinDrift, describePinDrift, type PinDriftCheck } from '../plan/pin-drift.ts';
import { buildReport, type JobOutcome, type Report, resultOf } from '../plan/report.ts';
import type { Verified } from '../plan/policy.ts';
import { type ArtifactMode, type ArtifactReader, type ArtifactsNote, type CredentialProvider, DEFAULT_ARTIFACT_MODE, type ImageCopier, type ImageVerifier, type Manifest, type ManifestHead, type ManifestRegistry, type MirrorResult, type MirrorStatus, type PinDrift, type PullBudgetSeen, type RegistryCredential, type RepositoryNote, type RepositoryReport, type RepositoryStore } from '../ports.ts';
import { cosignTag } from '../oci/artifacts.ts';
import { type ArtifactCopying, copyArtifacts, readerAt, withTag } from './artifacts.ts';
import { afterAttempts, COPY_RETRY, retrying, type RetryPolicy, settledWithin, sleep } from '../retry.ts';
import { describeLimit, isRefusal, PullBudgets, type PullGrant, type PullRefusal } from './pull-budget.ts';

/** The outcome of mirroring one job; `digest` is the source digest copied or found. */
export interface MirrorOutcome {
  readonly status: Exclude<MirrorStatus, 'failed' | 'deferred'>;
  readonly digest: string;
  /** The source's pull budget as last seen, when it has one. */
  readonly budget?: PullBudgetSeen;
  /** Manifest GETs spent on the source (pulls on Docker Hub), when any. */
  readonly pulls?: number;
  /** What the job did to its target repository (ECR), when there is something to say. */
  readonly repository?: RepositoryNote;
  /** For `copied`: what the target tag held before, when it was another image. */
  readonly replaced?: string;
  /** A digest pin whose tag now names another image upstream, or no longer exists there. */
  readonly pinDrift?: PinDrift;
  /** What the result line should say besides its status, in words: the pin's drift, a platform filter that did not apply. */
  readonly notices?: readonly string[];
  /** How the image was verified, when a policy rule covers it. */
  readonly verified?: Verified;
  /** The artifacts (signatures, attestations, SBOMs) copied with the image or found in the target, when there were any. */
  readonly artifacts?: ArtifactsNote;
}

/** What mirrorImage() learnt before it failed or was deferred, for the result line. */
export interface ImageFacts {
  digest?: string;
  /** Manifest GETs spent on the source so far (each a pull on Docker Hub). */
  pulls?: number;
  budget?: PullBudgetSeen;
  /** What was done to the target repository, when there is something to say: kept on a failure after the check. */
  repository?: RepositoryNote;
  /** The pin's tag names another image upstream: kept on a failure too, for it is true whatever became of the copy. */
  pinDrift?: PinDrift;
  /** The source is a single image's manifest, not an index: a platform filter has nothing to choose from. */
  singleImage?: true;
  /** The images of an index copied: their artifacts travel too. */
  children?: readonly string[];
  /** How the image was verified: kept on a failure after it (an artifact that did not copy). */
  verified?: Verified;
  artifacts?: ArtifactsNote;
}

/** What the facts tell a failed or deferred image's result line. */
export function outcomeFacts(facts: ImageFacts): Pick<JobOutcome, 'digest' | 'budget' | 'pulls' | 'repository' | 'pinDrift' | 'notices' | 'verified' | 'artifacts'> {
  return {
    digest: facts.digest,
    verified: facts.verified,
    artifacts: facts.artifacts,
    budget: facts.budget,
    pulls: facts.pulls,
    repository: facts.repository,
    pinDrift: facts.pinDrift,
    ...(facts.pinDrift === undefined ? {} : { notices: [describePinDrift(facts.pinDrift)] }),
  };
}

/** The ports the sync use case works through. */
export interface SyncDeps {
  readonly registry: ManifestRegistry;
  readonly copier: ImageCopier;
  readonly credentials: CredentialProvider;
  /** Present for ECR targets only: a generic OCI registry creates repositories on push. */
  readonly repositories?: RepositoryStore;
  /** Checks the signatures of jobs a policy rule covers; a job with `verify` and no verifier fails closed (UnverifiedError). */
  readonly verifier?: ImageVerifier;
}

export interface SyncOptions {
  readonly dryRun?: boolean;
  /** Copy only these platforms out of multi-platform indexes; all of them when empty. */
  readonly platforms?: readonly Platform[];
  /** Epoch milliseconds by which all work must have stopped (a Lambda deadline less a margin). */
  readonly deadline?: number;
  /** How whole-image copies are retried; COPY_RETRY unless a test wants it faster. */
  readonly copyRetry?: RetryPolicy;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborted when the run is interrupted: nothing more is started, a running copy is stopped. */
  readonly signal?: AbortSignal;
  /** The run's pull budgets, shared by its copies; a fresh one keeping `pullReserve` when absent. */
  readonly budgets?: PullBudgets;
  /** Pulls of a source's budget never spent (kept for the clusters still pulling from it); DEFAULT_PULL_RESERVE when absent. */
  readonly pullReserve?: number;
  /** Which artifacts travel with each image; DEFAULT_ARTIFACT_MODE when absent. */
  readonly artifacts?: ArtifactMode;
}

/** Below this much time before the deadline no copy is started: it would be killed half-way. */
const MIN_COPY_TIME_MS = 5_000;

/** Look-ups at once, unless told otherwise: a HEAD costs nothing upstream and little on either side. */
export const DEFAULT_LOOKUP_CONCURRENCY = 32;

export interface SyncAllOptions extends SyncOptions {
  /** Images copied at once. */
  readonly concurrency?: number;
  /** Images looked up (HEADs on source and target) at once; copies wait for their own slot after. */
  readonly lookupConcurrency?: number;
  /** Called as each image finishes, for progress output. */
  readonly onResult?: (result: MirrorResult, done: number, total: number) => void;
}

/**
 * Mirrors every job of a plan, a bounded number at a time; one image failing never stops the others. Look-ups run at
 * their own, higher concurrency; a copy waits for one of `concurrency` slots after its look-up. Copies share one pull
 * budget per source registry. Once the signal is aborted no image is started, and every image not finished is
 * `interrupted`.
 */
export async function syncAll(plan: Plan, deps: SyncDeps, options: SyncAllOptions = {}): Promise<Report> {
  const lookups = pLimit(Math.max(1, options.lookupConcurrency ?? DEFAULT_LOOKUP_CONCURRENCY));
  const copies = pLimit(Math.max(1, options.concurrency ?? 4));
  const shared: SyncOptions = { ...options, budgets: options.budgets ?? new PullBudgets(options.pullReserve) };
  let done = 0;
  const results = await Promise.all(
    plan.jobs.map(async (job) => {
      const started = performance.now();
      const facts: ImageFacts = {};
      let result: MirrorResult;
      try {
        const examined = await lookups(async () => {
          if (options.signal?.aborted) throw new InterruptedError(`mirroring "${formatReference(job.source)}": interrupted before it started`);
          const found = await examineImage(job, deps, shared, facts);
          // An image found unchanged has its artifacts looked at in the same slot; each copy of one waits for a copy slot.
          return 'status' in found ? withArtifacts(job, found, deps, shared, facts, copies) : found;
        });
        // A copied image's artifacts are looked at once its copy slot is released (never waiting for a slot while holding
        // one), each artifact copy taking a copy slot of its own, as an image copy does.
        let outcome: MirrorOutcome;
        if ('status' in examined) outcome = examined;
        else {
          const copiedImage = await copies(() => copyImage(examined, deps, shared, facts));
          outcome = await lookups(() => withArtifacts(job, copiedImage, deps, shared, facts, copies));
        }
        result = resultOf(job, { ...outcome, durationMs: performance.now() - started });
      } catch (error) {
        result = resultOf(job, { status: statusOf(error), ...outcomeFacts(facts), error, durationMs: performance.now() - started });
      }
      done += 1;
      options.onResult?.(result, done, plan.jobs.length);
      return result;
    }),
  );
  return buildReport(plan, results, shared.budgets);
}

/** What a failure makes of an image: interrupted only when the stop ended it, deferred when the pull budget did. */
export function statusOf(error: unknown): 'failed' | 'interrupted' | 'deferred' {
  if (isInterruption(error)) return 'interrupted';
  return isDeferral(error) ? 'deferred' : 'failed';
}

/**
 * Mirrors one image: compares digests by HEAD on both sides (no pull spent when they match) while the target
 * repository is checked and its drifted settings put back; creates the repository once the source is known to exist;
 * otherwise copies the exact source digest and checks what landed.
 * Throws a MirrorError that names the image and the step that failed; `facts` keeps what was learnt before.
 */
export async function mirrorImage(job: MirrorJob, deps: SyncDeps, options: SyncOptions = {}, facts: ImageFacts = {}): Promise<MirrorOutcome> {
  const withBudgets: SyncOptions = { ...options, budgets: options.budgets ?? new PullBudgets(options.pullReserve) };
  const examined = await examineImage(job, deps, withBudgets, facts);
  return withArtifacts(job, 'status' in examined ? examined : await copyImage(examined, deps, withBudgets, facts), deps, withBudgets, facts, (work) => work());
}

/** An image that needs copying, as its look-up found it. */
interface PendingCopy {
  readonly job: Required<MirrorJob>;
  readonly source: ManifestHead;
  readonly target: ManifestHead | undefined;
  /** True when `source` is the source's own answer, not just the digest a pinned reference names. */
  readonly sourceSeen: boolean;
}

/**
 * The look-up: both digests by HEAD while the target repository is checked (and its drifted settings put back); the
 * repository created only once the source is known to exist. An outcome when nothing is to be copied.
 */
async function examineImage(job: MirrorJob, deps: SyncDeps, options: SyncOptions, facts: ImageFacts): Promise<MirrorOutcome | PendingCopy> {
  const { source, target } = job;
  if (target === undefined) throw new MirrorError(`mirroring "${formatReference(source)}": the job has no target`);
  const platforms = options.platforms ?? [];
  // A dry run changes no repository: it neither creates one nor puts back a setting.
  const repositories = options.dryRun ? undefined : deps.repositories;
  const sourceName = repositoryName(source);

  // A digest-pinned source needs no request on the source side unless it is to be copied; the tag beside the pin gets
  // one free HEAD meanwhile, which tells whether upstream has moved on.
  const lookups = Promise.allSettled([
    source.digest !== undefined ? Promise.resolve<ManifestHead>({ digest: source.digest }) : lookup(deps.registry, source, 'source'),
    lookup(deps.registry, target, 'target'),
    repositories?.check(target.repository, sourceName),
  ]);
  const pinLooked = examinePin(deps.registry, source);
  const [sourceLooked, targetLooked, checked] = await lookups;
  if (checked.status === 'fulfilled') noteRepository(checked.value, facts);
  // A notice is never worth a wait: an upstream slow to answer the tag (retried, up to a minute) must not hold up a
  // pinned image the target already has, which needs no upstream request at all. Dropped, it says nothing this run.
  const pin = await settledWithin(pinLooked, PIN_CHECK_GRACE_MS);
  if (pin !== undefined) notePin(pin, source, options, facts);
  const missing = repositories !== undefined && checked.status === 'fulfilled' && checked.value === undefined;
  let sourceHead = settled(sourceLooked);
  let sourceSeen = source.digest === undefined;
  // No repository yet, so a copy follows: a pinned source is looked at now, for none is created for an image that does not exist.
  if (missing && !sourceSeen) {
    sourceHead = await lookup(deps.registry, source, 'source');
    sourceSeen = true;
  }
  if (sourceHead === undefined) throw noSuchSource(source);
  noteLookup(sourceHead, source, options, facts);
  if (sourceSeen && isImageManifestMediaType(sourceHead.mediaType)) facts.singleImage = true;
  facts.digest = sourceHead.digest;
  settled(checked);
  // Before anything is created or copied: an image the policy refuses leaves no trace in the target.
  if (job.verify !== undefined) await verifyImage(job, sourceHead.digest, !missing && targetLooked.status === 'fulfilled' && targetLooked.value !== undefined, deps, options, facts);
  let targetHead: ManifestHead | undefined;
  if (missing) {
    // The target holds nothing, whatever it answered: a registry may answer a HEAD in a missing repository with an error.
    // Work abandoned at a deadline must not create a repository after its outcome was recorded.
    if (options.signal?.aborted) throw new InterruptedError(`creating the repository of "${formatReference(target)}": interrupted before it started`);
    noteRepository(await repositories.ensure(target.repository, sourceName), facts);
  } else {
    targetHead = settled(targetLooked);
  }
  const pending: PendingCopy = { job: job as Required<MirrorJob>, source: sourceHead, target: targetHead, sourceSeen };
  const upToDate = targetHead !== undefined && (targetHead.digest === sourceHead.digest || (platforms.length > 0 && (await holdsNarrowedCopy(deps.registry, target, sourceHead.digest, platforms))));
  if (upToDate) return outcomeOf(pending, options.dryRun ? 'would-skip' : 'skipped', facts, platforms);
  if (options.dryRun) return outcomeOf(pending, 'would-copy', facts, platforms);
  return pending;
}

/** The copy: the pulls it needs granted from the source's budget first, or the image deferred without spending any. */
async function copyImage(pending: PendingCopy, deps: SyncDeps, options: SyncOptions, facts: ImageFacts): Promise<MirrorOutcome> {
  const { job } = pending;
  const { source } = job;
  if (options.signal?.aborted) throw new InterruptedError(`copying "${formatReference(source)}": interrupted before the copy started`);
  let head = pending.source;
  if (!pending.sourceSeen) {
    // A pinned source was not looked at: one free HEAD says that it exists, what kind it is, and what budget is left.
    const found = await lookup(deps.registry, source, 'source');
    if (found === undefined) throw noSuchSource(source);
    noteLookup(found, source, options, facts);
    head = found;
  }
  if (isImageManifestMediaType(head.mediaType)) facts.singleImage = true;
  const registries = [...new Set([source.registry, job.target.registry])];
  const credentials = await credentialsOf(deps.credentials, registries);
  const platforms = options.platforms ?? [];
  const budgeted = options.budgets?.current(source.registry) !== undefined;
  await spending(options, source.registry, facts, async (spender) => {
    // Each attempt spends its pulls: the first from what was granted before, a retry from a grant of its own.
    const copy: Copy = (from, to, pulls) =>
      copyWithRetry(deps, from, to, registries, credentials, options, async (attempt) => {
        if (attempt > 1) await spender.charge(pulls, `copying "${formatReference(from)}" again`);
        spender.spend(pulls);
      });
    // An index is read first where only some platforms are wanted, or where pulls are counted: it tells how many the
    // copy needs. Only a HEAD that names a single image's manifest type rules an index out.
    if (!isImageManifestMediaType(head.mediaType) && (platforms.length > 0 || budgeted)) {
      const copied = await copyIndex(job, head.digest, platforms, deps, spender, copy);
      if (copied === 'image') facts.singleImage = true;
      else facts.children = copied;
    } else {
      await spender.charge(1, `copying "${formatReference(source)}"`);
      await copyWhole(job, head.digest, deps, copy);
    }
  });
  const outcome = outcomeOf(pending, 'copied', facts, platforms);
  // The tag pointed at another image: say which, so that an overwrite never passes as a plain copy.
  return pending.target === undefined ? outcome : { ...outcome, replaced: pending.target.digest };
}

/** Runs work in one of the run's copy slots (every crane copy takes one), or at once outside syncAll. */
type CopySlot = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * The artifacts step, after a copy or a skip (a dry run copies none): the image's signatures and the rest `artifacts`
 * takes, for its digest and, for an index copied in this run, each image copied with it (an image found unchanged:
 * its own digest only, so that a no-op costs an index the HEADs it costs a single image). Found by HEADs and copied
 * by digest, every crane copy in a copy slot, every GET and copy granted from the source's budget like the image's.
 * An artifact that fails to copy fails the image.
 */
async function withArtifacts(job: MirrorJob, outcome: MirrorOutcome, deps: SyncDeps, options: SyncOptions, facts: ImageFacts, slot: CopySlot): Promise<MirrorOutcome> {
  const mode = options.artifacts ?? DEFAULT_ARTIFACT_MODE;
  if (mode === 'none' || (outcome.status !== 'copied' && outcome.status !== 'skipped') || job.target === undefined) return outcome;
  const { source, target } = job;
  if (options.signal?.aborted) throw new InterruptedError(`copying the signatures of "${formatReference(source)}": interrupted before it started`);
  const children = outcome.status === 'skipped' || facts.singleImage ? [] : (facts.children ?? (await childrenInTarget(deps.registry, target)));
  const registries = [...new Set([source.registry, target.registry])];
  const credentials = await credentialsOf(deps.credentials, registries);
  facts.artifacts = await spending(options, source.registry, facts, (spender) => {
    const grant = async (what: string) => {
      await spender.charge(1, what);
      spender.spend(1);
    };
    const ports: ArtifactCopying = {
      registry: deps.registry,
      copy: (from, to) => slot(() => copyWithRetry(deps, from, to, registries, credentials, options, () => grant(`copying "${formatReference(from)}"`))),
      pull: grant,
      looked: (head) => noteLookup(head, source, options, facts),
    };
    return copyArtifacts(source, target, [outcome.digest, ...children], mode, ports);
  });
  const { copied, present } = facts.artifacts;
  return {
    ...outcome,
    ...(facts.budget !== undefined ? { budget: facts.budget } : {}),
    ...(facts.pulls ? { pulls: facts.pulls } : {}),
    ...(copied + present > 0 ? { artifacts: facts.artifacts } : {}),
  };
}

/** The images of an index copied whole, by the index the target tag now holds (a GET on the target, never the source). */
async function childrenInTarget(registry: ManifestRegistry, target: ImageReference): Promise<string[]> {
  try {
    return ((await registry.getManifest(target))?.json.manifests ?? []).map((child) => child.digest);
  } catch (error) {
    throw new RegistryRequestError(`reading target "${formatReference(target)}" for the images whose signatures travel with it: ${describeError(error)}`, { cause: error, retryable: mayRetry(error) });
  }
}

/**
 * Verifies a job a policy rule covers, before anything is created or copied: from the target's copy (free) when the
 * target holds the same digest and the same `.sig` tag as the source (HEADs), else (or when the target's copy does
 * not verify) from the source, each manifest GET granted from its pull budget like the image's. A job with no verifier
 * to check it fails closed.
 */
async function verifyImage(job: MirrorJob, digest: string, targetLooked: boolean, deps: SyncDeps, options: SyncOptions, facts: ImageFacts): Promise<void> {
  const { source, target, verify: rule } = job;
  if (rule === undefined || target === undefined) return;
  const image = withDigest(source, digest);
  const named = formatReference(image);
  if (deps.verifier === undefined) throw new UnverifiedError(`verifying "${named}": the policy rule "${rule.name}" covers it and this run has no signature verifier`);
  // The signature is bound to the source digest, whichever registry holds it: the target's copy of it (an exact or a
  // narrowed copy, whose own digest differs) is read for free when its `.sig` tag is the source's.
  if (targetLooked && (await sameSignatureTag(job, digest, deps, options, facts))) {
    try {
      facts.verified = await deps.verifier.verify(rule, image, readerAt(deps.registry, source, target));
      return;
    } catch (error) {
      // The target's copy may lack what upstream has (copied with --artifacts none, say): the source decides.
      if (!(error instanceof UnverifiedError)) throw error;
    }
  }
  const { verifier } = deps;
  facts.verified = await spending(options, source.registry, facts, (spender) => {
    const reader: ArtifactReader = {
      headManifest: async (ref) => {
        const head = await deps.registry.headManifest(ref);
        if (head !== undefined) noteLookup(head, source, options, facts);
        return head;
      },
      getManifest: async (ref) => {
        await spender.charge(1, `reading "${formatReference(ref)}" to verify "${named}"`);
        spender.spend(1);
        return deps.registry.getManifest(ref);
      },
      listReferrers: (ref) => deps.registry.listReferrers(ref),
      getBlob: (ref, blob, maxBytes) => deps.registry.getBlob(ref, blob, maxBytes),
    };
    return verifier.verify(rule, image, reader);
  });
}

/**
 * Runs `work` with a PullSpender of the source's budget, then settles it (the pulls granted and not sent returned)
 * and notes the budget left in the facts; a refusal for the source's pull limit ends every grant from it in this run.
 */
async function spending<T>(options: SyncOptions, registry: string, facts: ImageFacts, work: (spender: PullSpender) => Promise<T>): Promise<T> {
  const spender = new PullSpender(options.budgets, registry, facts);
  try {
    return await work(spender);
  } catch (error) {
    if (isPullLimitRefusal(error)) options.budgets?.exhaust(registry);
    throw error;
  } finally {
    spender.settle();
    const budget = options.budgets?.current(registry);
    if (budget !== undefined) facts.budget = budget;
  }
}

/** True when source and target hold the same `sha256-<hex>.sig` tag for the digest (both none included), by HEADs. */
async function sameSignatureTag(job: MirrorJob, digest: string, deps: SyncDeps, options: SyncOptions, facts: ImageFacts): Promise<boolean> {
  if (job.target === undefined) return false;
  const tag = cosignTag(digest, 'sig');
  const [up, down] = await Promise.all([lookup(deps.registry, withTag(job.source, tag), 'source'), lookup(deps.registry, withTag(job.target, tag), 'target')]);
  if (up !== undefined) noteLookup(up, job.source, options, facts);
  return up?.digest === down?.digest;
}

function outcomeOf(pending: PendingCopy, status: MirrorOutcome['status'], facts: ImageFacts, platforms: readonly Platform[]): MirrorOutcome {
  const notices = [
    ...(facts.pinDrift === undefined ? [] : [describePinDrift(facts.pinDrift)]),
    ...(facts.singleImage && platforms.length > 0 ? [singleImageNotice(status, platforms)] : []),
  ];
  return {
    status,
    digest: pending.source.digest,
    ...(facts.budget !== undefined ? { budget: facts.budget } : {}),
    ...(facts.pulls ? { pulls: facts.pulls } : {}),
    ...(facts.repository !== undefined ? { repository: facts.repository } : {}),
    ...(facts.pinDrift !== undefined ? { pinDrift: facts.pinDrift } : {}),
    ...(notices.length > 0 ? { notices } : {}),
    ...(facts.verified !== undefined ? { verified: facts.verified } : {}),
  };
}

/**
 * A platform filter meets an image of one platform: it is mirrored whole, for it is what the Dockerfile names. Which
 * platform that is would take its config blob, a request more for every such image, so the notice does not say.
 */
function singleImageNotice(status: MirrorOutcome['status'], platforms: readonly Platform[]): string {
  const done = status === 'copied' ? 'copied whole' : status === 'would-copy' ? 'would be copied whole' : 'the target holds it whole';
  return `single-platform image: ${done}; the platforms asked (${platformsKey(platforms)}) apply to multi-platform indexes only`;
}

/** How long a pin's drift check may still run once the image's own look-ups have ended: a notice waits no longer. */
const PIN_CHECK_GRACE_MS = 2_000;

/** The pin's drift check, with the answer its HEAD got: the budget that answer told is seen like any look-up's. */
interface PinExamined {
  readonly check: PinDriftCheck;
  readonly head?: ManifestHead;
}

/** Runs the drift check of a pinned source (nothing for any other) and keeps the HEAD answer it got. */
async function examinePin(registry: ManifestRegistry, source: ImageReference): Promise<PinExamined> {
  let head: ManifestHead | undefined;
  const check = await checkPinDrift({ headManifest: async (ref) => (head = await registry.headManifest(ref)) }, source);
  return head === undefined ? { check } : { check, head };
}

/** What the pin's tag said: its drift, the pulls it spent and the budget it told. */
function notePin(pin: PinExamined, source: ImageReference, options: SyncOptions, facts: ImageFacts): void {
  const { check, head } = pin;
  // Not pinned with a tag, or the check failed (a notice at most, never a failure): nothing was learnt, and a drift
  // an earlier attempt saw stays true.
  if (head === undefined && check.drift === undefined) return;
  noteSpent(source.registry, head?.budget, check.pullsSpent, options, facts);
  if (check.drift !== undefined) {
    facts.pinDrift = check.drift;
    return;
  }
  delete facts.pinDrift;
  // The tag names the pin: its answer's media type is the pinned image's, known without a request on the pin.
  if (isImageManifestMediaType(head?.mediaType)) facts.singleImage = true;
}

/** A settled look-up's value, or its error thrown. */
function settled<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** What a repository check or creation did, kept in the facts when there is something to say. */
function noteRepository(report: RepositoryReport | undefined, facts: ImageFacts): void {
  if (report === undefined) return;
  const note: RepositoryNote = {
    ...(report.created ? { created: true as const } : {}),
    ...(report.repaired.length > 0 ? { repaired: report.repaired } : {}),
    ...(report.warnings.length > 0 ? { warnings: report.warnings } : {}),
  };
  if (Object.keys(note).length > 0) facts.repository = note;
}

/** What a source look-up says of the budget, and the pull it spent when the registry answered no HEAD. */
function noteLookup(head: ManifestHead, source: ImageReference, options: SyncOptions, facts: ImageFacts): void {
  noteSpent(source.registry, head.budget, head.pullsSpent ?? 0, options, facts);
}

/** A look-up's answer taken in: the budget it told, and the pulls it spent (a GET where the registry answered no HEAD). */
function noteSpent(registry: string, told: PullBudgetSeen | undefined, pulls: number, options: SyncOptions, facts: ImageFacts): void {
  options.budgets?.observe(registry, told);
  facts.pulls = (facts.pulls ?? 0) + pulls;
  const budget = options.budgets?.current(registry);
  if (budget !== undefined) facts.budget = budget;
}

/**
 * One copy's account with its source's budget: pulls are granted before they are spent (or the image is deferred
 * with a DeferredError saying what was needed and what remains), counted as they are sent, and the grants handed back
 * at the end, with the pulls granted and never sent returned to the budget.
 */
class PullSpender {
  private readonly grants: PullGrant[] = [];
  private granted = 0;
  private spent = 0;

  constructor(
    private readonly budgets: PullBudgets | undefined,
    private readonly registry: string,
    private readonly facts: ImageFacts,
  ) {}

  /** Takes `pulls` under the registry's lock, so that no other copy's grant lands between two of this one's. */
  charge(pulls: number, what: string): Promise<void> {
    if (this.budgets === undefined) return Promise.resolve();
    return this.budgets.exclusive(this.registry, async () => this.take(pulls, what));
  }

  /** Runs `work` holding the registry's lock: the grants it takes with take() are taken together. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.budgets === undefined ? work() : this.budgets.exclusive(this.registry, work);
  }

  /** Takes `pulls` at once: for work already holding the registry's lock (exclusive()). */
  take(pulls: number, what: string): void {
    const answer = this.budgets?.take(this.registry, pulls);
    if (answer === undefined) return;
    if (isRefusal(answer)) throw this.deferral(answer, what);
    this.grants.push(answer);
    this.granted += answer.pulls;
  }

  /**
   * Runs `work`; when it fails, settles at once: under the registry's lock, the pulls granted and not sent are back
   * before the next copy asks.
   */
  async settlingOnFailure<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.settle();
      throw error;
    }
  }

  /** `pulls` manifest GETs are being sent to the source. */
  spend(pulls: number): void {
    this.spent += pulls;
    this.facts.pulls = (this.facts.pulls ?? 0) + pulls;
  }

  /** The copy has ended, however: every grant handed back, what was granted and not sent returned. */
  settle(): void {
    let unspent = Math.max(0, this.granted - this.spent);
    for (const grant of this.grants.splice(0)) {
      const back = Math.min(unspent, grant.pulls);
      this.budgets?.release(grant, back);
      unspent -= back;
    }
    this.granted = this.spent = 0;
  }

  private deferral(refusal: PullRefusal, what: string): DeferredError {
    if (refusal.seen !== undefined) this.facts.budget = refusal.seen;
    const pulls = `${refusal.needed} pull${refusal.needed === 1 ? '' : 's'}`;
    if (refusal.exhausted || refusal.seen === undefined) {
      return new DeferredError(`${what}: deferred to the next run: it needs ${pulls}, and ${this.registry} refused a pull for its pull limit earlier in this run`);
    }
    const who = refusal.seen.source ? ` for ${refusal.seen.source}` : '';
    return new DeferredError(
      `${what}: deferred to the next run: it needs ${pulls} of ${this.registry}'s budget (${describeLimit(refusal.seen)}${who}), ` +
        `${refusal.seen.remaining} remain and ${refusal.reserve} are kept in reserve`,
    );
  }
}

type Copy = (from: ImageReference, to: ImageReference, pulls: number) => Promise<void>;

async function copyWhole(job: Required<MirrorJob>, digest: string, deps: SyncDeps, copy: Copy): Promise<void> {
  // Copy by digest: what we looked at is what lands, even if the tag moves meanwhile. A single image is one pull.
  const from = withDigest(job.source, digest);
  await copy(from, job.target, 1);
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== digest) {
    throw new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(job.target)}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${digest}`, { reason: 'transient' });
  }
}

/** Images of one index copied at once: each is a crane process of its own. */
const INDEX_IMAGES_AT_ONCE = 4;

/**
 * An index read first (one pull), then each image wanted copied by digest (one pull each), then the index tagged in
 * the target: the source's own bytes, or with `platforms` an index of just those, annotated with the source digest.
 * These are the pulls of a whole copy, 1 + the images. The read and the images' grant are taken together under the
 * registry's lock: 2 pulls before the read (an index has an image at least), the rest once it tells how many. An
 * index too large for what is left is deferred having spent its read. Returns the digests of the images copied, or
 * `image` for a source that was no index after all, copied whole.
 */
async function copyIndex(job: Required<MirrorJob>, digest: string, platforms: readonly Platform[], deps: SyncDeps, spender: PullSpender, copy: Copy): Promise<readonly string[] | 'image'> {
  const sourceRef = withDigest(job.source, digest);
  const from = formatReference(sourceRef);
  const to = formatReference(job.target);
  const read = await spender.exclusive(() => spender.settlingOnFailure(async () => {
    spender.take(2, `reading the source index "${from}"`);
    spender.spend(1);
    let manifest: Manifest | undefined;
    try {
      manifest = await deps.registry.getManifest(sourceRef);
    } catch (error) {
      throw new RegistryRequestError(`reading the source index "${from}": ${describeError(error)}`, { cause: error, retryable: mayRetry(error) });
    }
    if (manifest === undefined) throw new RegistryRequestError(`reading the source index "${from}": no such manifest (404)`, { status: 404 });
    if (manifest.json.manifests === undefined) return { manifest, index: undefined };
    let index: { body: string | Uint8Array; children: readonly ManifestDescriptor[]; mediaType: string };
    try {
      index = platforms.length > 0 ? { ...narrowIndex(manifest.json, digest, platforms), mediaType: OCI_INDEX } : { body: manifest.bytes ?? manifest.body, children: manifest.json.manifests, mediaType: manifest.mediaType };
    } catch (error) {
      throw new PlatformNotFoundError(`copying platforms of "${from}": ${describeError(error)}`, { cause: error });
    }
    if (index.children.length > 1) spender.take(index.children.length - 1, `copying the ${index.children.length} images of "${from}"`);
    return { manifest, index };
  }));
  // Not an index after all: crane copies it, with the pull granted for an image (the look-up did not say what it was).
  if (read.index === undefined) {
    await copyWhole(job, digest, deps, copy);
    return 'image';
  }
  const { index } = read;

  // Once an image fails, the ones not started never start (their pulls go back); those running are waited for, so that
  // the copy's pulls are settled only after the last one was sent.
  const limit = pLimit(INDEX_IMAGES_AT_ONCE);
  let failed = false;
  const copies = index.children.map((child) =>
    limit(async () => {
      if (failed) return;
      try {
        await copy(withDigest(job.source, child.digest), withDigest(job.target, child.digest), 1);
      } catch (error) {
        failed = true;
        throw error;
      }
    }),
  );
  const failure = (await Promise.allSettled(copies)).find((result) => result.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  let written: string;
  try {
    written = await deps.registry.putManifest(job.target, index.body, index.mediaType);
  } catch (error) {
    throw new CopyFailedError(`tagging the index of ${index.children.length} image(s) of "${from}" as "${to}": ${describeError(error)}`, { cause: error, reason: mayRetry(error) ? 'transient' : 'permanent' });
  }
  // The source's own index must land as it is: another digest means its bytes changed on the way, which no retry mends.
  if (platforms.length === 0 && written !== digest) {
    throw new CopyFailedError(`tagging the index of "${from}" as "${to}": the target stored it as ${written}, not ${digest}`, { reason: 'permanent' });
  }
  const landed = await lookup(deps.registry, job.target, 'target');
  if (landed?.digest !== written) {
    throw new CopyFailedError(`copying "${from}" to "${to}": the target now holds ${landed?.digest ?? 'nothing'} instead of ${written}`, { reason: 'transient' });
  }
  return index.children.map((child) => child.digest);
}

async function holdsNarrowedCopy(registry: ManifestRegistry, target: ImageReference, digest: string, platforms: readonly Platform[]): Promise<boolean> {
  // A GET on the target costs no source pull; it tells which source digest the narrowed index was made from.
  try {
    const manifest = await registry.getManifest(target);
    return manifest !== undefined && isNarrowedCopyOf(manifest.json, digest, platforms);
  } catch (error) {
    throw new RegistryRequestError(`reading target "${formatReference(target)}": ${describeError(error)}`, { cause: error, retryable: mayRetry(error) });
  }
}

async function copyWithRetry(
  deps: SyncDeps,
  from: ImageReference,
  to: ImageReference,
  registries: readonly string[],
  credentials: Map<string, RegistryCredential>,
  options: SyncOptions,
  /** Before each attempt, told its number: what it will spend is granted here, or it throws (the image is deferred). */
  beforeAttempt: (attempt: number) => Promise<void>,
): Promise<void> {
  const left = () => (options.deadline === undefined ? undefined : options.deadline - Date.now());
  const before = left();
  if (before !== undefined && before < MIN_COPY_TIME_MS) {
    throw new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(to)}": stopped, ${Math.max(0, Math.round(before / 1000))} s left before the deadline is too little to copy safely`, { reason: 'timeout' });
  }
  let current = credentials;
  await retrying(
    options.copyRetry ?? COPY_RETRY,
    async (attempt) => {
      await beforeAttempt(attempt);
      const timeoutMs = left();
      await deps.copier.copy({ source: from, target: to, credentials: current, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(options.signal ? { signal: options.signal } : {}) });
    },
    {
      // A copy cut at crane's time limit is retried only with as much time again: a stalled connection then clears, while
      // a copy too large for that time (a Lambda's last seconds) would only spend its pulls again and be cut again.
      classify: (error) => ({ retryable: mayRetry(error) && !cutShort(error, left()) }),
      giveUp: (error, attempts) => copyFailure(from, to, error, attempts),
      beforeRetry: async (error) => {
        if (!isAuthFailure(error) || !deps.credentials.invalidate) return;
        // An expired registry token: fetch fresh credentials before the next attempt.
        for (const registry of registries) deps.credentials.invalidate(registry);
        current = await credentialsOf(deps.credentials, registries);
      },
      // A retry starts only with the same room to finish that the first attempt needed; otherwise the last failure is reported.
      ...(options.deadline === undefined ? {} : { deadline: options.deadline - MIN_COPY_TIME_MS }),
      // An interruption ends the wait; the next attempt then finds the signal aborted and starts no crane.
      sleep: (ms) => (options.sleep ?? sleep)(ms, options.signal),
    },
  );
}

/** A crane time-out that another attempt, with `leftMs` to go, could not outlast. */
function cutShort(error: unknown, leftMs: number | undefined): boolean {
  if (!(error instanceof CopyFailedError) || error.reason !== 'timeout' || error.limitMs === undefined || leftMs === undefined) return false;
  return leftMs - MIN_COPY_TIME_MS < error.limitMs;
}

// The failure of the last attempt, saying how many there were. Credentials still refused after a refresh will not improve with retries.
function copyFailure(from: ImageReference, to: ImageReference, error: unknown, attempts: number): CopyFailedError {
  const reason = error instanceof CopyFailedError ? error.reason : mayRetry(error) ? 'transient' : 'permanent';
  const tries = attempts > 1 ? afterAttempts(attempts) : '';
  return new CopyFailedError(`copying "${formatReference(from)}" to "${formatReference(to)}": ${describeError(error)}${tries}`, { cause: error, reason, retryable: mayRetry(error) && reason !== 'auth' });
}

async function lookup(registry: ManifestRegistry, ref: ImageReference, side: 'source' | 'target'): Promise<ManifestHead | undefined> {
  try {
    return await registry.headManifest(ref);
  } catch (error) {
    const status = error instanceof RegistryRequestError ? error.status : undefined;
    // A 429 from the source is the pull budget running out; one from the target is our own registry's affair, retried
    // like any throttling: it never defers the image, whatever code it came with.
    const ErrorClass = error instanceof RateLimitedError ? (side === 'source' ? SourceRateLimitedError : RateLimitedError) : RegistryRequestError;
    const targetThrottled = side === 'target' && error instanceof PullLimitError;
    throw new ErrorClass(`looking up ${side} "${formatReference(ref)}": ${describeError(error)}`, {
      ...(targetThrottled ? {} : { cause: error }),
      retryable: targetThrottled || mayRetry(error),
      ...(status !== undefined ? { status } : {}),
    });
  }
}

/** A source the registry has no manifest for: permanent, no retry will make it appear. */
function noSuchSource(source: ImageReference): RegistryRequestError {
  return new RegistryRequestError(`looking up source "${formatReference(source)}": no such image (404)`, { status: 404 });
}

async function credentialsOf(provider: CredentialProvider, registries: readonly string[]): Promise<Map<string, RegistryCredential>> {
  const out = new Map<string, RegistryCredential>();
  for (const registry of registries) {
    const credential = await provider.credentialsFor(registry);
    if (credential) out.set(registry, credential);
  }
  return out;
}
