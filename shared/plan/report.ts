import { describeError, isRetryable } from '../errors.ts';
import { formatReference } from '../image-ref/reference.ts';
import type { FileIssue, MirrorResult, MirrorStatus } from '../ports.ts';
import type { MirrorJob, Plan } from './plan.ts';

export interface ReportSummary {
  readonly planned: number;
  readonly copied: number;
  readonly skipped: number;
  readonly failed: number;
  readonly invalid: number;
  readonly wouldCopy: number;
  readonly wouldSkip: number;
}

/** The document `mirror plan|sync --json` prints: results per image, errors per file, and counts. */
export interface Report {
  readonly results: readonly MirrorResult[];
  readonly errors: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
  readonly summary: ReportSummary;
}

/** A result line for a job with its outcome (or none, for a plan). */
export function resultOf(
  job: MirrorJob,
  outcome: { status: MirrorStatus | 'planned'; digest?: string | undefined; error?: unknown; durationMs?: number },
): MirrorResult {
  return {
    file: job.files[0] ?? '',
    files: job.files,
    source: formatReference(job.source),
    target: job.target === undefined ? null : formatReference(job.target),
    status: outcome.status,
    digest: outcome.digest ?? job.source.digest ?? null,
    error: outcome.error === undefined ? null : describeError(outcome.error),
    ...(outcome.error === undefined ? {} : { retryable: isRetryable(outcome.error) }),
    ...(outcome.durationMs === undefined ? {} : { durationMs: Math.round(outcome.durationMs) }),
  };
}

/** Puts results and the plan's file issues together, with the summary counts. */
export function buildReport(plan: Plan, results: readonly MirrorResult[]): Report {
  const count = (status: MirrorResult['status']) => results.filter((result) => result.status === status).length;
  return {
    results,
    errors: plan.errors,
    warnings: plan.warnings,
    summary: {
      planned: plan.jobs.length,
      copied: count('copied'),
      skipped: count('skipped'),
      failed: count('failed'),
      invalid: new Set(plan.errors.map((error) => error.file)).size,
      wouldCopy: count('would-copy'),
      wouldSkip: count('would-skip'),
    },
  };
}

/** The report of a plan alone: every job `planned`. */
export function planReport(plan: Plan): Report {
  return buildReport(plan, plan.jobs.map((job) => resultOf(job, { status: 'planned' })));
}

/** True when CI should fail: an image failed or a file was invalid. */
export function reportFailed(report: Report): boolean {
  return report.summary.failed > 0 || report.summary.invalid > 0;
}
