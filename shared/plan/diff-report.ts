import { formatReference } from '../image-ref/reference.ts';
import { type CostLookups, DEFAULT_PULL_RESERVE, isDockerHub, type RegistryBudgetSeen } from './cost.ts';
import type { ImageChange, PlanDiff } from './diff.ts';
import type { FileIssue } from '../ports.ts';
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
  /** Manifest GETs the copy sends to the source; kept beside `pulls`, which is the same number. */
  readonly manifestGets: number | null;
  /** What the sync takes from the source's pull budget for this image: one per manifest GET of its copy. */
  readonly pulls: number | null;
  /** Why the cost is unknown: the lookup's error. */
  readonly error: string | null;
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
  readonly invalid: number;
  /** False when any cost below is missing (not looked up, or a lookup failed): totals are then lower bounds. */
  readonly costComplete: boolean;
  /** The same number as `pulls`, kept for readers of earlier reports. */
  readonly manifestGets: number;
  /** Pulls the sync takes from the sources' budgets: one per manifest GET of each copy. */
  readonly pulls: number;
  /** The part of `pulls` taken from Docker Hub. */
  readonly dockerHubPulls: number;
  /** Manifest GETs sent while planning, to read the indexes (a single image's HEAD tells its cost). */
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
  readonly added: readonly DiffEntry[];
  readonly changed: readonly DiffEntry[];
  readonly removed: readonly RemovedEntry[];
  readonly invalid: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  readonly summary: DiffSummary;
  /** The pull budget of each source registry that told one in the lookups; empty when none did or nothing was looked up. */
  readonly budgets: readonly DiffBudget[];
  /** Pulls of each budget the sync keeps in reserve: an image whose copy would go below it is deferred. */
  readonly pullReserve: number;
}

/** The images to look costs up for: added and changed ones the base does not already name. */
export function imagesToCost(diff: PlanDiff): ImageChange['source'][] {
  return [...diff.added, ...diff.changed].filter((change) => !change.namedElsewhere).map((change) => change.source);
}

/**
 * Puts a plan diff and the looked-up costs (absent with `--no-cost`) into the report, with totals, and sets each
 * budget seen against the pulls the change takes from it, `pullReserve` kept. Pure.
 */
export function buildDiffReport(diff: PlanDiff, lookups: CostLookups | undefined, base: string, pullReserve: number = DEFAULT_PULL_RESERVE): DiffReport {
  const entry = (change: ImageChange): DiffEntry => {
    const name = formatReference(change.source);
    const lookup = change.namedElsewhere ? undefined : lookups?.costs.get(name);
    const cost = lookup?.cost;
    const free = change.namedElsewhere;
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
      pulls: free ? 0 : (cost?.pulls ?? null),
      error: lookup?.error === undefined ? null : safeMessage(lookup.error),
    };
  };
  const added = diff.added.map(entry);
  const changed = diff.changed.map(entry);
  const costed = [...added, ...changed];
  const sum = (values: readonly (number | null)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);
  const looked = [...(lookups?.costs.entries() ?? [])];
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
    added,
    changed,
    removed: diff.removed.map((change) => ({
      source: formatReference(change.source),
      target: change.target === undefined ? null : formatReference(change.target),
      files: change.files.map((file) => safeMessage(file)),
      namedElsewhere: change.namedElsewhere,
    })),
    invalid: safeIssues(diff.invalid),
    warnings: safeIssues(diff.warnings),
    summary: {
      added: added.length,
      changed: changed.length,
      removed: diff.removed.length,
      unchanged: diff.unchanged,
      invalid: new Set(diff.invalid.map((issue) => issue.file)).size,
      costComplete: costed.every((e) => e.pulls !== null),
      manifestGets: sum(costed.map((e) => e.manifestGets)),
      pulls: sum(costed.map((e) => e.pulls)),
      dockerHubPulls: sum(costed.filter((e) => e.dockerHub).map((e) => e.pulls)),
      lookupGets: sum(looked.map(([, lookup]) => lookup.lookupGets)),
      dockerHubLookupGets: sum(looked.filter(([name]) => name.startsWith('docker.io/')).map(([, lookup]) => lookup.lookupGets)),
      missing: looked.filter(([, lookup]) => lookup.notFound).length,
    },
    budgets,
    pullReserve,
  };
}

/** True when CI should fail: an invalid file, or an added or changed image its source does not have. */
export function diffReportFailed(report: DiffReport): boolean {
  return report.summary.invalid > 0 || report.summary.missing > 0;
}
