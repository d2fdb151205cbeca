import type { TargetBase } from '../../shared/image-ref/target.ts';
import { describePinDrift } from '../../shared/plan/pin-drift.ts';
import type { Report } from '../../shared/plan/report.ts';
import type { FileIssue, ManagedRepository, MirrorResult } from '../../shared/ports.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import type { OrphanReport } from '../../shared/sync/orphans.ts';
import { code, escapeText } from './render-diff.ts';
import { NO_PREFIX_WARNING } from './render-orphans.ts';

/**
 * Rows shown per table or list: GitHub keeps at most 1 MiB of a step's summary, and a thousand rows of an image
 * table stay well below it. The JSON report always has them all.
 */
const MAX_ROWS = 1000;

/**
 * A plan's or a sync's report in markdown, for a CI job's summary ($GITHUB_STEP_SUMMARY) or a comment: a heading, the
 * counts, a table of the images, then the failed, deferred and invalid ones, the notices and the warnings. Everything
 * that came from outside (file names, references, registries' errors) is escaped: it cannot add markup or mentions.
 */
export function renderReportMarkdown(report: Report, kind: 'plan' | 'sync'): string {
  const lines = [`### Mirror ${kind}${report.summary.wouldCopy + report.summary.wouldSkip > 0 ? ' (dry run)' : ''}`, '', countsLine(report, kind)];
  if (report.results.length > 0) {
    lines.push('', '| status | source | target | digest | file |', '| --- | --- | --- | --- | --- |');
    lines.push(...limitRows(report.results, imageRow, (more) => `| … and ${more} more (see \`--format json\`) | | | | |`));
  }
  lines.push(...imageBlock('Failed or interrupted images', report.results.filter((r) => r.error !== null && r.status !== 'deferred')));
  lines.push(...imageBlock('Deferred images (the next run copies them; nothing failed)', report.results.filter((r) => r.status === 'deferred')));
  lines.push(...issueBlock('Invalid files (nothing mirrored from them)', report.errors, 'error'));
  lines.push(...noticeBlock(report.results));
  lines.push(...issueBlock('Warnings', report.warnings, 'warning'));
  return `${lines.join('\n')}\n`;
}

/** The orphan report in markdown: the orphans with their source, and what was left out, counted. */
export function renderOrphansMarkdown(report: OrphanReport, target: TargetBase): string {
  const under = target.prefix === '' ? target.registry : `${target.registry}/${target.prefix}`;
  const lines = ['### Mirror orphans', ''];
  if (target.prefix === '') lines.push(`> Warning: ${NO_PREFIX_WARNING}.`, '');
  if (report.orphans.length === 0) {
    lines.push(`No orphaned repositories under ${code(under)} (${report.checked} checked).`);
  } else {
    lines.push(
      `**${report.orphans.length}** of ${report.checked} repositories under ${code(under)} are orphaned: tagged managed-by=image-mirror, named by no Dockerfile. Nothing was deleted.`,
      '',
      ...repositoryTable(report.orphans),
    );
  }
  if (report.spared.length > 0) lines.push('', `Not listed, as an invalid Dockerfile sits in their source's directory: ${report.spared.length}.`, '', ...repositoryTable(report.spared));
  if (report.foreign > 0) lines.push('', `Left out as another configuration's: ${report.foreign}.`);
  if (report.unattributed.length > 0) lines.push('', `Left out, as their source tag names no image: ${report.unattributed.length}.`, '', ...repositoryTable(report.unattributed));
  return `${lines.join('\n')}\n`;
}

/** `**7** images planned: 3 copied, 1 skipped, **1 failed**; no invalid file`, figures that need a look in bold. */
function countsLine(report: Report, kind: 'plan' | 'sync'): string {
  const s = report.summary;
  const bold = (count: number, text: string) => (count > 0 ? `**${count} ${text}**` : `${count} ${text}`);
  const parts =
    kind === 'plan'
      ? []
      : s.wouldCopy + s.wouldSkip > 0
        ? [`${s.wouldCopy} would copy`, `${s.wouldSkip} would skip`]
        : [`${s.copied} copied`, `${s.skipped} skipped`, bold(s.failed, 'failed'), ...(s.deferred > 0 ? [`${s.deferred} deferred`] : []), ...(s.interrupted > 0 ? [bold(s.interrupted, 'interrupted')] : [])];
  const invalid = bold(s.invalid, `invalid file${s.invalid === 1 ? '' : 's'}`);
  return `**${s.planned}** image${s.planned === 1 ? '' : 's'} planned${parts.length > 0 ? `: ${parts.join(', ')}` : ''}; ${invalid}.`;
}

function imageRow(r: MirrorResult): string {
  const status = r.status === 'failed' || r.status === 'interrupted' ? `**${r.status}**` : r.status;
  return `| ${status} | ${code(r.source)} | ${r.target === null ? '–' : code(r.target)} | ${r.digest === null ? '–' : code(shortDigest(r.digest))} | ${r.files.map(code).join('<br>')} |`;
}

/** Failed or deferred images, each with its files and its error. */
function imageBlock(title: string, results: readonly MirrorResult[]): string[] {
  if (results.length === 0) return [];
  const item = (r: MirrorResult) => `- ${code(r.source)} (${r.files.map(code).join(', ')}): ${escapeText(r.error ?? '')}`;
  return ['', `#### ${title}: ${results.length}`, '', ...limitRows(results, item, listMore)];
}

function issueBlock(title: string, issues: readonly FileIssue[], what: string): string[] {
  if (issues.length === 0) return [];
  const row = (issue: FileIssue) => `| ${code(issue.file)} | ${escapeText(issue.message)} |`;
  return ['', `#### ${title}: ${issues.length}`, '', `| file | ${what} |`, '| --- | --- |', ...limitRows(issues, row, (more) => `| … and ${more} more | |`)];
}

/**
 * What fails nothing but is worth a look, per image: its notices (a pin whose tag moved on, a platform it lacks), a
 * target tag that held another image, ECR settings put back or that cannot be.
 */
function noticeBlock(results: readonly MirrorResult[]): string[] {
  const items = results.flatMap((r) => noticesOf(r).map((notice) => `- ${code(r.source)}: ${escapeText(notice)}`));
  if (items.length === 0) return [];
  return ['', `#### Notices: ${items.length}`, '', ...limitRows(items, (item) => item, listMore)];
}

function noticesOf(r: MirrorResult): string[] {
  // The sync words a pin drift as a notice already; a result that carries the drift alone still gets it said.
  const notices = r.notices?.length ? [...r.notices] : r.pinDrift === undefined ? [] : [describePinDrift(r.pinDrift)];
  if (r.replaced !== undefined) notices.push(`the target tag held another image, ${r.replaced}, now overwritten`);
  if (r.repository?.repaired !== undefined) notices.push(`repository settings put back: ${r.repository.repaired.join(', ')}`);
  for (const warning of r.repository?.warnings ?? []) notices.push(`repository: ${warning}`);
  return notices;
}

function repositoryTable(repositories: readonly ManagedRepository[]): string[] {
  const row = (r: ManagedRepository) => `| ${code(r.name)} | ${r.source === undefined ? '–' : code(safeMessage(r.source))} |`;
  return ['| repository | source |', '| --- | --- |', ...limitRows(repositories, row, (more) => `| … and ${more} more (see \`--format json\`) | |`)];
}

function listMore(more: number): string {
  return `- … and ${more} more (see \`--format json\`)`;
}

function limitRows<T>(items: readonly T[], row: (item: T) => string, more: (count: number) => string): string[] {
  const rows = items.slice(0, MAX_ROWS).map(row);
  if (items.length > MAX_ROWS) rows.push(more(items.length - MAX_ROWS));
  return rows;
}

function shortDigest(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}
