import { describeError, findCause, isRetryable, UnverifiedError } from '../errors.ts';
import { formatReference } from '../image-ref/reference.ts';
import type { ArtifactsNote, FileIssue, MirrorResult, MirrorStatus, PinDrift, PullBudgetSeen, RepositoryNote } from '../ports.ts';
import { safeMessage } from '../safe-text.ts';
import type { MirrorJob, Plan } from './plan.ts';
import type { Verified } from './policy.ts';

export interface ReportSummary {
  readonly planned: number;
  readonly copied: number;
  readonly skipped: number;
  readonly failed: number;
  /** Images the run was stopped (SIGINT, SIGTERM) before it finished or started. */
  readonly interrupted: number;
  /** Images left for the next run: their pulls would have taken a source's budget below the reserve. */
  readonly deferred: number;
  /** Manifest GETs the run spent on source registries (pulls, on Docker Hub). */
  readonly pulls: number;
  readonly invalid: number;
  readonly wouldCopy: number;
  readonly wouldSkip: number;
  /** Files naming a registry the allow-list leaves out (each has its notice among the warnings): not invalid. Absent when none. */
  readonly notMirrored?: number;
}

/** The document `mirror plan|sync --json` prints: results per image, errors per file, and counts. */
export interface Report {
  readonly results: readonly MirrorResult[];
  readonly errors: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  readonly summary: ReportSummary;
  /** The pull budget of each source registry that has one, as last seen in the run, with the reserve kept. */
  readonly budgets?: readonly RegistryBudget[];
}

/** A source registry's pull budget at the end of a run. */
export interface RegistryBudget extends PullBudgetSeen {
  readonly registry: string;
  readonly reserve: number;
}

/** Where a run's budgets are read from at its end. */
export interface BudgetBook {
  readonly reserve: number;
  current(registry: string): PullBudgetSeen | undefined;
}

/** What became of one job, as the sync use case tells it. */
export interface JobOutcome {
  readonly status: MirrorStatus | 'planned';
  /** The source digest, when the lookup got that far (a failure keeps it too). */
  readonly digest?: string | undefined;
  readonly replaced?: string | undefined;
  readonly error?: unknown;
  readonly durationMs?: number;
  readonly budget?: PullBudgetSeen | undefined;
  readonly pulls?: number | undefined;
  /** What the job did to its target repository, when there is something to say. */
  readonly repository?: RepositoryNote | undefined;
  /** A digest pin whose tag now names another image upstream. */
  readonly pinDrift?: PinDrift | undefined;
  /** Notices that fail nothing, in words. */
  readonly notices?: readonly string[] | undefined;
  /** How the image was verified, when a policy rule covers it. */
  readonly verified?: Verified | undefined;
  /** Artifacts copied with the image or found in the target. */
  readonly artifacts?: ArtifactsNote | undefined;
  /** Why a failure is what it is; `unverified` is also taken from an UnverifiedError among the error's causes. */
  readonly reason?: 'unverified' | undefined;
}

/**
 * A result line for a job with its outcome (or none, for a plan). File names and errors come from outside (a file
 * name, a registry's answer, crane's stderr): they are made safe to print here, once, for every report and log line.
 */
export function resultOf(job: MirrorJob, outcome: JobOutcome): MirrorResult {
  const files = job.files.map((file) => safeMessage(file));
  return {
    file: files[0] ?? '',
    files,
    source: formatReference(job.source),
    target: job.target === undefined ? null : formatReference(job.target),
    status: outcome.status,
    digest: outcome.digest ?? job.source.digest ?? null,
    ...(outcome.replaced === undefined ? {} : { replaced: outcome.replaced }),
    error: outcome.error === undefined ? null : safeMessage(describeError(outcome.error)),
    ...(outcome.error === undefined ? {} : { retryable: isRetryable(outcome.error) }),
    ...(outcome.durationMs === undefined ? {} : { durationMs: Math.round(outcome.durationMs) }),
    ...(outcome.budget === undefined ? {} : { budget: outcome.budget }),
    ...(outcome.pulls ? { pulls: outcome.pulls } : {}),
    ...(outcome.repository === undefined ? {} : { repository: repositoryNote(outcome.repository) }),
    ...(outcome.pinDrift === undefined ? {} : { pinDrift: outcome.pinDrift }),
    // A notice quotes a registry's answer (a digest) and the file's reference: made safe like an error.
    ...(outcome.notices?.length ? { notices: outcome.notices.map((notice) => safeMessage(notice)) } : {}),
    ...(outcome.reason === 'unverified' || findCause(outcome.error, UnverifiedError) !== undefined ? { reason: 'unverified' as const } : {}),
    ...(outcome.verified === undefined ? {} : { verified: outcome.verified }),
    ...(outcome.artifacts === undefined || outcome.artifacts.copied + outcome.artifacts.present === 0 ? {} : { artifacts: outcome.artifacts }),
  };
}

// Warnings may carry a KMS key name from the repository's own settings: made safe to print like everything else.
function repositoryNote(note: RepositoryNote): RepositoryNote {
  return { ...note, ...(note.warnings === undefined ? {} : { warnings: note.warnings.map((warning) => safeMessage(warning)) }) };
}

/** File issues made safe to print: the names and the messages come from the files. */
export function safeIssues(issues: readonly FileIssue[]): FileIssue[] {
  return issues.map((issue) => ({ file: safeMessage(issue.file), message: safeMessage(issue.message) }));
}

/** Puts results and the plan's file issues together, with the summary counts and the budgets the run saw. */
export function buildReport(plan: Plan, results: readonly MirrorResult[], book?: BudgetBook): Report {
  const count = (status: MirrorResult['status']) => results.filter((result) => result.status === status).length;
  const budgets = budgetsOf(plan, book);
  return {
    results,
    errors: safeIssues(plan.errors),
    warnings: safeIssues(plan.warnings),
    summary: {
      planned: plan.jobs.length,
      copied: count('copied'),
      skipped: count('skipped'),
      failed: count('failed'),
      interrupted: count('interrupted'),
      deferred: count('deferred'),
      pulls: results.reduce((sum, result) => sum + (result.pulls ?? 0), 0),
      invalid: new Set(plan.errors.map((error) => error.file)).size,
      wouldCopy: count('would-copy'),
      wouldSkip: count('would-skip'),
      ...(plan.notMirrored?.length ? { notMirrored: plan.notMirrored.length } : {}),
    },
    ...(budgets.length > 0 ? { budgets } : {}),
  };
}

function budgetsOf(plan: Plan, book: BudgetBook | undefined): RegistryBudget[] {
  if (book === undefined) return [];
  const registries = [...new Set(plan.jobs.map((job) => job.source.registry))].sort();
  return registries.flatMap((registry) => {
    const seen = book.current(registry);
    return seen === undefined ? [] : [{ registry, ...seen, reserve: book.reserve }];
  });
}

/** The report of a plan alone: every job `planned`. */
export function planReport(plan: Plan): Report {
  return buildReport(plan, plan.jobs.map((job) => resultOf(job, { status: 'planned' })));
}

/** True when images were left for the next run to save a source's pull budget; nothing failed for it. */
export function reportDeferred(report: Report): boolean {
  return report.summary.deferred > 0;
}

/** True when CI should fail: an image failed or was interrupted, or a file was invalid. */
export function reportFailed(report: Report): boolean {
  return report.summary.failed > 0 || report.summary.interrupted > 0 || report.summary.invalid > 0;
}
