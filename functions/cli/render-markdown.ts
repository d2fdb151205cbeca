import type { TargetBase } from '../../shared/image-ref/target.ts';
import { describePinDrift } from '../../shared/plan/pin-drift.ts';
import type { Report } from '../../shared/plan/report.ts';
import type { FileIssue, ManagedRepository, MirrorResult } from '../../shared/ports.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import type { OrphanReport } from '../../shared/sync/orphans.ts';
import { code, escapeText, limitRows } from './markdown.ts';
import { describeRule, type ReportKind, shortDigest, signatureWords, summaryLine } from './render.ts';
import { NO_PREFIX_WARNING, notAllowedSentence } from './render-orphans.ts';

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
export function renderReportMarkdown(report: Report, kind: ReportKind): string {
  const lines = [`### Mirror ${kind === 'dry-run' ? 'sync (dry run)' : kind}`, '', `${summaryLine(report, kind)}.`];
  if (report.results.length > 0) lines.push('', ...imageTable(report.results));
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
  if (report.notAllowed.length > 0) lines.push('', escapeText(notAllowedSentence(report)));
  return `${lines.join('\n')}\n`;
}

/** The images, one row each; a column no image has a value in (the target of a plain plan) is left out, as in the text table. */
function imageTable(results: readonly MirrorResult[]): string[] {
  const target = results.some((r) => r.target !== null);
  const digest = results.some((r) => r.digest !== null);
  // The signature policy's rule (a plan) and how each image was verified, with its artifacts (a sync): only when some image has one.
  const rule = results.some((r) => r.rule !== undefined);
  const signatures = results.some((r) => signatureWords(r) !== undefined);
  const header = ['status', 'source', ...(target ? ['target'] : []), ...(digest ? ['digest'] : []), ...(rule ? ['policy'] : []), ...(signatures ? ['signatures'] : []), 'file'];
  const row = (r: MirrorResult) => {
    const shown = r.reason === 'unverified' ? `${r.status} (unverified)` : r.status;
    const status = r.status === 'failed' || r.status === 'interrupted' ? `**${shown}**` : shown;
    const cells = [
      status,
      code(r.source),
      ...(target ? [r.target === null ? '–' : code(r.target)] : []),
      ...(digest ? [r.digest === null ? '–' : code(shortDigest(r.digest))] : []),
      ...(rule ? [r.rule === undefined ? 'no rule' : escapeText(describeRule(r.rule))] : []),
      ...(signatures ? [escapeText(signatureWords(r) ?? '–')] : []),
      r.files.map(code).join('<br>'),
    ];
    return `| ${cells.join(' | ')} |`;
  };
  const more = (count: number) => `| … and ${count} more (see \`--format json\`) |${' |'.repeat(header.length - 1)}`;
  return [`| ${header.join(' | ')} |`, `|${' --- |'.repeat(header.length)}`, ...limitRows(results, MAX_ROWS, row, more)];
}

/** Failed or deferred images, each with its files and its error. */
function imageBlock(title: string, results: readonly MirrorResult[]): string[] {
  if (results.length === 0) return [];
  const item = (r: MirrorResult) => `- ${code(r.source)} (${r.files.map(code).join(', ')}): ${r.reason === 'unverified' ? 'failed (unverified): ' : ''}${escapeText(r.error ?? '')}`;
  return ['', `#### ${title}: ${results.length}`, '', ...limitRows(results, MAX_ROWS, item, listMore)];
}

function issueBlock(title: string, issues: readonly FileIssue[], what: string): string[] {
  if (issues.length === 0) return [];
  const row = (issue: FileIssue) => `| ${code(issue.file)} | ${escapeText(issue.message)} |`;
  return ['', `#### ${title}: ${issues.length}`, '', `| file | ${what} |`, '| --- | --- |', ...limitRows(issues, MAX_ROWS, row, (more) => `| … and ${more} more | |`)];
}

/**
 * What fails nothing but is worth a look, per image: its notices (a pin whose tag moved on, a platform it lacks), a
 * target tag that held another image, ECR settings put back or that cannot be.
 */
function noticeBlock(results: readonly MirrorResult[]): string[] {
  const items = results.flatMap((r) => noticesOf(r).map((notice) => `- ${code(r.source)}: ${escapeText(notice)}`));
  if (items.length === 0) return [];
  return ['', `#### Notices: ${items.length}`, '', ...limitRows(items, MAX_ROWS, (item) => item, listMore)];
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
  return ['| repository | source |', '| --- | --- |', ...limitRows(repositories, MAX_ROWS, row, (more) => `| … and ${more} more (see \`--format json\`) | |`)];
}

function listMore(more: number): string {
  return `- … and ${more} more (see \`--format json\`)`;
}
