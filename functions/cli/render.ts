import type { Report } from '../../shared/plan/report.ts';
import type { FileIssue, MirrorResult } from '../../shared/ports.ts';
import { describeLimit } from '../../shared/sync/pull-budget.ts';

/** One progress line for stderr as an image finishes. */
export function progressLine(result: MirrorResult, done: number, total: number): string {
  const width = String(total).length;
  const seconds = result.durationMs === undefined ? '' : ` (${(result.durationMs / 1000).toFixed(1)} s)`;
  const replaced = result.replaced === undefined ? '' : ` (replaced ${shortDigest(result.replaced)})`;
  const line = `[${String(done).padStart(width)}/${total}] ${result.status.padEnd(11)} ${result.source}${replaced}${seconds}`;
  return result.error ? `${line}\n    ${result.error}` : line;
}

/** The human-readable report: a table of images, then file errors, warnings and the counts. */
export function renderReport(report: Report, kind: 'plan' | 'sync'): string {
  const lines: string[] = [];
  const rows = report.results.map((r) => [r.status, r.source, r.target ?? '-', r.digest ? shortDigest(r.digest) : '-']);
  if (rows.length > 0) lines.push(...table([['STATUS', 'SOURCE', 'TARGET', 'DIGEST'], ...rows]));
  else lines.push('No images planned.');

  const replaced = report.results.filter((r) => r.replaced !== undefined);
  if (replaced.length > 0) {
    lines.push('', 'Target tags that held another image (now overwritten):');
    for (const r of replaced) lines.push(`  ${r.target ?? r.source}: was ${r.replaced}`);
  }
  lines.push(...repositoryLines(report.results));
  const failed = report.results.filter((r) => r.error && r.status !== 'deferred');
  if (failed.length > 0) {
    lines.push('', 'Failed or interrupted images:');
    for (const r of failed) lines.push(`  ${r.source} (${r.files.join(', ')})`, `    ${r.error}`);
  }
  const deferred = report.results.filter((r) => r.status === 'deferred');
  if (deferred.length > 0) {
    lines.push('', 'Deferred images (the next run copies them; nothing failed):');
    for (const r of deferred) lines.push(`  ${r.source} (${r.files.join(', ')})`, `    ${r.error}`);
  }
  lines.push(...fileIssueLines(report.errors, report.warnings));
  lines.push(...budgetLines(report));
  lines.push('', summaryLine(report, kind));
  return lines.join('\n');
}

/**
 * ECR repositories whose drifted settings were put back, or that carry a warning (a setting the mirror cannot change,
 * one it could not check or put back); one line each, under a header that says which of the two there are.
 */
function repositoryLines(results: readonly MirrorResult[]): string[] {
  const lines: string[] = [];
  let repaired = false;
  let warned = false;
  for (const r of results) {
    const repository = r.target?.replace(/:[^:/]+$/, '') ?? r.source;
    if (r.repository?.repaired !== undefined) {
      repaired = true;
      lines.push(`  ${repository}: put back ${r.repository.repaired.join(', ')}`);
    }
    for (const warning of r.repository?.warnings ?? []) {
      warned = true;
      lines.push(`  ${repository}: ${warning}`);
    }
  }
  if (lines.length === 0) return [];
  const header = repaired && warned ? 'Repositories (settings that had drifted were put back; warnings):' : repaired ? 'Repositories (settings that had drifted were put back):' : 'Repositories (warnings; nothing was put back):';
  return ['', header, ...lines];
}

/** The invalid files and the warnings, each block only when it has entries. */
export function fileIssueLines(invalid: readonly FileIssue[], warnings: readonly FileIssue[]): string[] {
  const lines: string[] = [];
  if (invalid.length > 0) {
    lines.push('', 'Invalid files (nothing mirrored from them):');
    for (const issue of invalid) lines.push(`  ${issue.file}: ${issue.message}`);
  }
  if (warnings.length > 0) {
    lines.push('', 'Warnings:');
    for (const issue of warnings) lines.push(`  ${issue.file}: ${issue.message}`);
  }
  return lines;
}

/** `5 planned: 3 copied, 1 skipped, 1 failed; 1 invalid file`. */
function summaryLine(report: Report, kind: 'plan' | 'sync'): string {
  const s = report.summary;
  const parts =
    kind === 'plan'
      ? []
      : s.wouldCopy + s.wouldSkip > 0
        ? [`${s.wouldCopy} would copy`, `${s.wouldSkip} would skip`]
        : [`${s.copied} copied`, `${s.skipped} skipped`, `${s.failed} failed`, ...(s.deferred > 0 ? [`${s.deferred} deferred`] : []), ...(s.interrupted > 0 ? [`${s.interrupted} interrupted`] : [])];
  const invalid = `${s.invalid} invalid file${s.invalid === 1 ? '' : 's'}`;
  const notMirrored = s.notMirrored ? `; ${s.notMirrored} file${s.notMirrored === 1 ? '' : 's'} not mirrored (registry not allowed)` : '';
  return `${s.planned} image${s.planned === 1 ? '' : 's'} planned${parts.length ? `: ${parts.join(', ')}` : ''}; ${invalid}${notMirrored}`;
}

/** `docker.io: 31 of 100 pulls per 6 h left (counted for 192.0.2.1), 20 kept in reserve`, per registry that counts pulls. */
function budgetLines(report: Report): string[] {
  const budgets = report.budgets ?? [];
  if (budgets.length === 0) return [];
  const spent = `this run spent ${report.summary.pulls} pull${report.summary.pulls === 1 ? '' : 's'}`;
  return [
    '',
    `Pull budgets (${spent}):`,
    ...budgets.map((b) => `  ${b.registry}: ${b.remaining} of ${describeLimit(b)} left${b.source ? ` (counted for ${b.source})` : ''}, ${b.reserve} kept in reserve`),
  ];
}

/** `sha256:0123456789ab…`: enough of a digest to tell it apart in a table. */
export function shortDigest(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  '));
}
