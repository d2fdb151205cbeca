import { formatReference, type ImageReference } from '../image-ref/reference.ts';
import { type CostLookups, DEFAULT_PULL_RESERVE, isDockerHub, type RegistryBudgetSeen } from './cost.ts';
import type { ImageChange, PlanDiff } from './diff.ts';
import { type PinDrift, type PinDriftCheck, pinnedTag } from './pin-drift.ts';
import type { ArtifactMode, FileIssue } from '../ports.ts';
import { safeMessage } from '../safe-text.ts';
import { safeIssues } from './report.ts';

/** One added or changed image in the report, with what syncing it costs on its source. */
export interface DiffEntry {
  readonly source: string;
  /** What the file named before; null for an added image. */
  readonly previous: string | null;
  readonly target: string | null;
  readonly files: readonly string[];
  /** The base already names this exact image: the sync copies nothing for it. */
  readonly namedElsewhere: boolean;
  readonly dockerHub: boolean;
  /** Null when not looked up (`--no-cost`, already named in the base) or when the lookup failed. */
  readonly digest: string | null;
  readonly index: boolean | null;
  readonly platforms: readonly string[] | null;
  /** Manifest GETs the copy of the image itself sends to the source (its artifacts' left out). */
  readonly manifestGets: number | null;
  /** What the sync takes from the source's pull budget for this image: one per manifest GET of its copy, its artifacts' included. */
  readonly pulls: number | null;
  /** The part of `pulls` its signatures and other artifacts take; absent when they were not looked up (`--artifacts none`). */
  readonly artifactPulls?: number | null;
  /** Why its artifacts could not be looked up: `pulls` is then a lower bound. */
  readonly artifactsError?: string | null;
  /** Why the cost is unknown: the lookup's error. */
  readonly error: string | null;
  /** For a digest pin with a tag: the tag names another image upstream now. Null when it does not, or was not looked up. */
  readonly pinDrift: PinDrift | null;
  /** Why the tag of the pin could not be looked up; a notice, it fails nothing. */
  readonly pinDriftError: string | null;
}

/** One removed image: no longer synced, left as it is in the target. */
export interface RemovedEntry {
  readonly source: string;
  readonly target: string | null;
  readonly files: readonly string[];
  /** The new tree still names this image in another file: it stays synced. */
  readonly namedElsewhere: boolean;
}

/** Counts and cost totals of a plan diff. */
export interface DiffSummary {
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  readonly unchanged: number;
  /** Files with a problem this change introduces: they fail the check. */
  readonly invalid: number;
  /** Files with a problem the base has too, in a file the change leaves as it was, with the same message: not this change's, they fail nothing. */
  readonly alreadyBroken: number;
  /** Files naming a registry the allow-list leaves out: those images are not mirrored, and nothing fails for it. */
  readonly notMirrored: number;
  /** Added or changed digest pins whose tag names another image upstream now: a notice, nothing fails for it. */
  readonly pinDrift: number;
  /** False when any cost below is missing (not looked up, or a lookup failed): totals are then lower bounds. */
  readonly costComplete: boolean;
  /** The manifest GETs of the images' own copies: the same number as `pulls` but for the artifacts' pulls. */
  readonly manifestGets: number;
  /** Pulls the sync takes from the sources' budgets: one per manifest GET of each copy, artifacts' included. */
  readonly pulls: number;
  /** The part of `pulls` taken by signatures and other artifacts; absent when they were not looked up. */
  readonly artifactPulls?: number;
  /** The part of `pulls` taken from Docker Hub. */
  readonly dockerHubPulls: number;
  /**
   * Manifest GETs sent while planning, to read the indexes (a single image's HEAD tells its cost), and to any registry
   * that answers no HEAD in its place.
   */
  readonly lookupGets: number;
  readonly dockerHubLookupGets: number;
  /** Added or changed images the source does not have: the sync would fail on them. */
  readonly missing: number;
}

/** A source's pull budget as the lookups left it, and what the change would take from it. */
export interface DiffBudget extends RegistryBudgetSeen {
  /** Pulls the sync of this change takes from this registry (a lower bound when `summary.costComplete` is false). */
  readonly pulls: number;
  /** True when `pulls` leave at least `pullReserve` of `remaining`: the sync copies it all in one run. */
  readonly fits: boolean;
}

/** The document `mirror plan --base … --format json` prints. */
export interface DiffReport {
  readonly base: string;
  /** False with `--no-cost`: no registry was asked, no cost is known. */
  readonly costLookedUp: boolean;
  /** The artifacts priced with each image (`--artifacts`); absent when none were. */
  readonly artifacts?: ArtifactMode;
  readonly added: readonly DiffEntry[];
  readonly changed: readonly DiffEntry[];
  readonly removed: readonly RemovedEntry[];
  /** Problems this change introduces: each fails the check. */
  readonly invalid: readonly FileIssue[];
  /** Problems the base has too, in a file the change leaves as it was, with the same message: shown apart, they fail nothing. */
  readonly alreadyBroken: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  readonly summary: DiffSummary;
  /** The pull budget of each source registry that told one in the lookups; empty when none did or nothing was looked up. */
  readonly budgets: readonly DiffBudget[];
  /** Pulls of each budget the sync keeps in reserve: an image whose copy would go below it is deferred. */
  readonly pullReserve: number;
}

/** What the lookups of a change found: the costs and budgets, and the drift of each digest pin that was checked. */
export interface DiffLookups extends CostLookups {
  /** By the pinned reference as written (`tag@digest`); absent when no pin was checked. */
  readonly pinDrift?: ReadonlyMap<string, PinDriftCheck>;
  /** The artifacts priced with each image; absent when none were. */
  readonly artifacts?: ArtifactMode;
}

/** The images to look costs up for: added and changed ones the base does not already name. */
export function imagesToCost(diff: PlanDiff): ImageReference[] {
  return [...diff.added, ...diff.changed].filter((change) => !change.namedElsewhere).map((change) => change.source);
}

/**
 * The digest pins with a tag among the added and changed images, the ones already named in the base too: the change
 * writes each of them, and one HEAD on its tag tells whether upstream has moved on.
 */
export function pinsToCheck(diff: PlanDiff): ImageReference[] {
  return [...diff.added, ...diff.changed].map((change) => change.source).filter((source) => pinnedTag(source) !== undefined);
}

/**
 * Puts a plan diff and the looked-up costs (absent with `--no-cost`) into the report, with totals, and sets each
 * budget seen against the pulls the change takes from it, `pullReserve` kept. Pure.
 */
export function buildDiffReport(diff: PlanDiff, lookups: DiffLookups | undefined, base: string, pullReserve: number = DEFAULT_PULL_RESERVE): DiffReport {
  const entry = (change: ImageChange): DiffEntry => {
    const name = formatReference(change.source);
    const lookup = change.namedElsewhere ? undefined : lookups?.costs.get(name);
    const cost = lookup?.cost;
    const free = change.namedElsewhere;
    const drift = lookups?.pinDrift?.get(name);
    const priced = lookups?.artifacts !== undefined;
    const artifactPulls = free ? 0 : (lookup?.artifacts?.pulls ?? null);
    const imagePulls = free ? 0 : (cost?.pulls ?? null);
    return {
      source: name,
      previous: change.previous === undefined ? null : formatReference(change.previous),
      target: change.target === undefined ? null : formatReference(change.target),
      files: change.files.map((file) => safeMessage(file)),
      namedElsewhere: change.namedElsewhere,
      dockerHub: isDockerHub(change.source),
      digest: cost?.digest ?? change.source.digest ?? null,
      index: cost?.index ?? null,
      platforms: cost?.platforms ?? null,
      manifestGets: free ? 0 : (cost?.manifestGets ?? null),
      pulls: imagePulls === null ? null : imagePulls + (artifactPulls ?? 0),
      ...(priced ? { artifactPulls, artifactsError: lookup?.artifactsError === undefined ? null : safeMessage(lookup.artifactsError) } : {}),
      error: lookup?.error === undefined ? null : safeMessage(lookup.error),
      pinDrift: drift?.drift ?? null,
      pinDriftError: drift?.error === undefined ? null : safeMessage(drift.error),
    };
  };
  const added = diff.added.map(entry);
  const changed = diff.changed.map(entry);
  const costed = [...added, ...changed];
  const sum = (values: readonly (number | null)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);
  const looked = [...(lookups?.costs.entries() ?? [])];
  // A drift check's HEAD is free, but a registry that answers no HEAD is asked by GET: counted with the lookups'.
  const driftGets = [...(lookups?.pinDrift?.entries() ?? [])].map(([name, check]) => ({ name, gets: check.pullsSpent }));
  const files = (issues: readonly FileIssue[]) => new Set(issues.map((issue) => issue.file)).size;
  const registryOf = new Map([...diff.added, ...diff.changed].map((change) => [formatReference(change.source), change.source.registry]));
  const pullsOn = (registry: string) => sum(costed.filter((e) => registryOf.get(e.source) === registry).map((e) => e.pulls));
  const budgets = [...(lookups?.budgets ?? [])]
    .sort((a, b) => a.registry.localeCompare(b.registry))
    .map((budget): DiffBudget => {
      const pulls = pullsOn(budget.registry);
      return { ...budget, pulls, fits: budget.remaining - pulls >= pullReserve };
    });
  return {
    base,
    costLookedUp: lookups !== undefined,
    ...(lookups?.artifacts === undefined ? {} : { artifacts: lookups.artifacts }),
    added,
    changed,
    removed: diff.removed.map((change) => ({
      source: formatReference(change.source),
      target: change.target === undefined ? null : formatReference(change.target),
      files: change.files.map((file) => safeMessage(file)),
      namedElsewhere: change.namedElsewhere,
    })),
    invalid: safeIssues(diff.invalid),
    alreadyBroken: safeIssues(diff.alreadyBroken),
    warnings: safeIssues(diff.warnings),
    summary: {
      added: added.length,
      changed: changed.length,
      removed: diff.removed.length,
      unchanged: diff.unchanged,
      invalid: files(diff.invalid),
      alreadyBroken: files(diff.alreadyBroken),
      notMirrored: diff.notMirrored.length,
      pinDrift: costed.filter((e) => e.pinDrift !== null).length,
      costComplete: costed.every((e) => e.pulls !== null && (e.artifactsError ?? null) === null),
      manifestGets: sum(costed.map((e) => e.manifestGets)),
      pulls: sum(costed.map((e) => e.pulls)),
      ...(lookups?.artifacts === undefined ? {} : { artifactPulls: sum(costed.map((e) => e.artifactPulls ?? null)) }),
      dockerHubPulls: sum(costed.filter((e) => e.dockerHub).map((e) => e.pulls)),
      lookupGets: sum(looked.map(([, lookup]) => lookup.lookupGets)) + sum(driftGets.map((d) => d.gets)),
      dockerHubLookupGets: sum(looked.filter(([name]) => name.startsWith('docker.io/')).map(([, lookup]) => lookup.lookupGets)) + sum(driftGets.filter((d) => d.name.startsWith('docker.io/')).map((d) => d.gets)),
      missing: looked.filter(([, lookup]) => lookup.notFound).length,
    },
    budgets,
    pullReserve,
  };
}

/**
 * True when CI should fail: a problem this change introduces, or an added or changed image its source does not have.
 * Problems already on the base, files left out by the allow-list and pins whose tag moved fail nothing.
 */
export function diffReportFailed(report: DiffReport): boolean {
  return report.summary.invalid > 0 || report.summary.missing > 0;
}
