import { wholeNumberIn } from '../../shared/config/env.ts';
import type { Report, ReportSummary } from '../../shared/plan/report.ts';
import type { FileIssue, MirrorResult } from '../../shared/ports.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import { describeLimit } from '../../shared/sync/pull-budget.ts';

/** What a report is of: a plain plan, a sync, or a sync that copies nothing (`--dry-run`). */
export type ReportKind = 'plan' | 'sync' | 'dry-run';

/** How a report is laid out for people. */
export interface RenderOptions {
  /** The width the table must fit, in characters; absent, nothing is cut (a pipe, a CI log keep full names). */
  readonly columns?: number | undefined;
}

/** A width above this in COLUMNS is a typo, not a terminal. */
const MAX_COLUMNS = 10_000;

/** Between two cells of a table. */
const GAP = '  ';

/** A name is never cut shorter than this, however narrow the terminal: below it, a line that wraps beats a name that says nothing. */
export const MIN_NAME_WIDTH = 8;

/**
 * The width output must fit: `COLUMNS` when it is a whole number, else the terminal's when the stream is one. None for
 * a pipe or a CI log, so that `less`, `grep` and a build log keep whole names.
 */
export function outputWidth(env: Readonly<Record<string, string | undefined>>, isTTY: boolean | undefined, columns: number | undefined): number | undefined {
  const fromEnv = env.COLUMNS === undefined ? undefined : wholeNumberIn(env.COLUMNS.trim(), MAX_COLUMNS);
  if (fromEnv !== undefined) return fromEnv;
  return isTTY === true && columns !== undefined && columns > 0 ? columns : undefined;
}

/**
 * `text` cut to `max` characters in the middle, with `…`: both ends of a name tell most (the registry, the tag, the
 * `Dockerfile +2`). The end gets the odd character.
 */
export function cutMiddle(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  if (max < 1) return '';
  const tail = Math.ceil((max - 1) / 2);
  const head = max - 1 - tail;
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - tail).join('')}`;
}

/** The human-readable report: a table of images, then notices, file errors, warnings and the counts. */
export function renderReport(report: Report, kind: ReportKind, options: RenderOptions = {}): string {
  const lines: string[] = [];
  if (report.results.length > 0) lines.push(...imageTable(report.results, options.columns));
  else lines.push('No images planned.');

  const replaced = report.results.filter((r) => r.replaced !== undefined);
  if (replaced.length > 0) {
    lines.push('', 'Target tags that held another image (now overwritten):');
    for (const r of replaced) lines.push(`  ${r.target ?? r.source}: was ${r.replaced}`);
  }
  lines.push(...policyLines(report.results));
  lines.push(...signatureLines(report.results));
  lines.push(...noticeLines(report.results));
  lines.push(...repositoryLines(report.results));
  const failed = report.results.filter((r) => r.error && r.status !== 'deferred');
  if (failed.length > 0) {
    lines.push('', 'Failed or interrupted images:');
    for (const r of failed) lines.push(`  ${r.source} (${r.files.join(', ')})`, `    ${r.reason === 'unverified' ? `failed (unverified): ${r.error}` : r.error}`);
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
 * A plan's signature policy: the rule that applies to each image a rule covers, and how many it covers; nothing when
 * no image is covered (no policy file, or none of its patterns matching).
 */
function policyLines(results: readonly MirrorResult[]): string[] {
  const covered = results.filter((r) => r.rule !== undefined);
  if (covered.length === 0) return [];
  const others = results.length - covered.length;
  const rest = others === 0 ? '' : others === 1 ? '; the other one matches no rule and is mirrored without verification' : `; the other ${others} match no rule and are mirrored without verification`;
  return ['', `Signature policy: ${covered.length} of ${results.length} image${results.length === 1 ? '' : 's'} covered${rest}`, ...covered.map((r) => `  ${r.source}  policy: ${describeRule(r.rule!)}`)];
}

/** `rule acme (key)`: a rule as the plan names it; the name comes from the policy file, made safe like a file name. */
export function describeRule(rule: NonNullable<MirrorResult['rule']>): string {
  return `rule ${safeMessage(rule.name)} (${rule.by})`;
}

/**
 * How each image was verified and what travelled with it: `verified by key keys/acme.pub; +2 artifacts`; an image
 * with neither says nothing.
 */
function signatureLines(results: readonly MirrorResult[]): string[] {
  const lines = results.flatMap((r) => {
    const words = signatureWords(r);
    return words === undefined ? [] : [`  ${r.source}: ${words}`];
  });
  return lines.length === 0 ? [] : ['', 'Signatures:', ...lines];
}

/** `verified keyless <subject> (<issuer>); +1 artifact, 2 already there`, or undefined when the result says neither. */
export function signatureWords(result: MirrorResult): string | undefined {
  const words: string[] = [];
  if (result.verified !== undefined) words.push(describeVerified(result.verified));
  const artifacts = result.artifacts;
  if (artifacts !== undefined && artifacts.copied + artifacts.present > 0) {
    const copied = artifacts.copied > 0 ? `+${artifacts.copied} artifact${artifacts.copied === 1 ? '' : 's'}` : '';
    const present = artifacts.present > 0 ? `${artifacts.present} artifact${artifacts.present === 1 ? '' : 's'} already there` : '';
    words.push([copied, present].filter((word) => word !== '').join(', '));
  }
  return words.length === 0 ? undefined : words.join('; ');
}

/**
 * `verified by key keys/acme.pub` or `verified keyless <subject> (<issuer>)`. The key path comes from the policy file and
 * the identity from a signature's certificate: made safe like a file name.
 */
export function describeVerified(verified: NonNullable<MirrorResult['verified']>): string {
  const identity = safeMessage(verified.identity);
  return verified.by === 'key' ? `verified by key ${identity}` : `verified keyless ${identity}`;
}

/** What was noticed about an image that fails nothing (a pin whose tag moved, a platform it lacks): a line per image and notice. */
function noticeLines(results: readonly MirrorResult[]): string[] {
  const lines = results.flatMap((r) => (r.notices ?? []).map((notice) => `  ${r.source}: ${notice}`));
  return lines.length === 0 ? [] : ['', 'Notices:', ...lines];
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

/** The counts of the outcomes, as a summary and the live progress line give them. */
export type StatusTally = Pick<ReportSummary, 'copied' | 'skipped' | 'failed' | 'interrupted' | 'deferred' | 'wouldCopy' | 'wouldSkip'>;

/**
 * `3 copied, 1 skipped, 1 failed` (a dry run: `3 would copy, 1 would skip, 1 failed`): the three main counts always,
 * even at 0, so that a run where all failed reads like any other; deferred and interrupted only when there are some.
 */
export function tallyWords(tally: StatusTally, kind: 'sync' | 'dry-run', unverified = 0): string {
  const main = kind === 'dry-run' ? [`${tally.wouldCopy} would copy`, `${tally.wouldSkip} would skip`] : [`${tally.copied} copied`, `${tally.skipped} skipped`];
  const rare = [...(tally.deferred > 0 ? [`${tally.deferred} deferred`] : []), ...(tally.interrupted > 0 ? [`${tally.interrupted} interrupted`] : [])];
  // Refused by the signature policy: failures of their own kind, which no retry changes.
  return [...main, `${tally.failed} failed${unverified > 0 ? ` (${unverified} unverified)` : ''}`, ...rare].join(', ');
}

/**
 * `5 images planned: 3 copied, 1 skipped, 1 failed (1 unverified); 1 invalid file`; a plain plan has no outcomes to
 * count, but says how many images the signature policy covers when it covers any.
 */
export function summaryLine(report: Report, kind: ReportKind): string {
  const s = report.summary;
  const unverified = report.results.filter((r) => r.reason === 'unverified').length;
  const covered = report.results.filter((r) => r.rule !== undefined).length;
  const outcomes = kind === 'plan' ? (covered > 0 ? `, ${covered} covered by the signature policy` : '') : `: ${tallyWords(s, kind, unverified)}`;
  const notMirrored = s.notMirrored ? `; ${s.notMirrored} file${s.notMirrored === 1 ? '' : 's'} not mirrored (registry not allowed)` : '';
  return `${s.planned} image${s.planned === 1 ? '' : 's'} planned${outcomes}; ${s.invalid} invalid file${s.invalid === 1 ? '' : 's'}${notMirrored}`;
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

/** A column of the image table. */
interface Column {
  readonly header: string;
  /** A name, cut in the middle when the table is too wide; the short columns (STATUS, DIGEST) are kept whole. */
  readonly name: boolean;
  /** The cell; `compact` when the table is too wide, to leave out first what another column or every row says. */
  readonly cell: (result: MirrorResult, compact: Compact | undefined) => string;
}

/** What a table too wide leaves out of every row. */
interface Compact {
  /** The directory every target is under (the --target registry and prefix, and more when they share it): `…/` instead. */
  readonly targetDirectory: string;
}

const TABLE: readonly Column[] = [
  { header: 'STATUS', name: false, cell: (r) => (r.reason === 'unverified' ? `${r.status} (unverified)` : r.status) },
  // A pin's digest is in the DIGEST column already.
  { header: 'SOURCE', name: true, cell: (r, compact) => (compact !== undefined ? r.source.replace(/@sha256:[0-9a-f]{64}$/, '@…') : r.source) },
  { header: 'TARGET', name: true, cell: (r, compact) => (r.target === null ? '-' : compact?.targetDirectory ? `…/${r.target.slice(compact.targetDirectory.length)}` : r.target) },
  // Compact, a digest is shown as docker shows an image ID: its first 12 hex digits.
  { header: 'DIGEST', name: false, cell: (r, compact) => (!r.digest ? '-' : compact !== undefined ? r.digest.replace(/^sha256:/, '').slice(0, 12) : shortDigest(r.digest)) },
  { header: 'FILE', name: true, cell: fileCell },
];

/** The first file naming the image, `+2` when two more do; compact, without the `Dockerfile` every one of them ends in. */
function fileCell(result: MirrorResult, compact: Compact | undefined): string {
  if (result.file === '') return '-';
  const file = compact !== undefined ? result.file.replace(/(^|\/)Dockerfile$/, '$1') || result.file : result.file;
  return result.files.length > 1 ? `${file} +${result.files.length - 1}` : file;
}

/**
 * One line per image, fitting `columns` when given. A column with nothing but `-` (TARGET on a plain plan, DIGEST
 * without pins) is left out; the last one is not padded, so that no line ends in spaces.
 */
function imageTable(results: readonly MirrorResult[], columns: number | undefined): string[] {
  const shown = TABLE.filter((column) => results.some((r) => column.cell(r, undefined) !== '-'));
  const rowsOf = (compact: Compact | undefined) => [shown.map((column) => column.header), ...results.map((r) => shown.map((column) => column.cell(r, compact)))];
  const full = rowsOf(undefined);
  const targetDirectory = commonDirectory(results.flatMap((r) => (r.target === null ? [] : [r.target])));
  const rows = columns !== undefined && lineWidth(naturalWidths(full)) > columns ? rowsOf({ targetDirectory }) : full;
  const widths = fitWidths(naturalWidths(rows), shown.map((column) => column.name), columns);
  const last = shown.length - 1;
  return rows.map((row) => row.map((cell, col) => (col === last ? cutMiddle(cell, widths[col]!) : padTo(cutMiddle(cell, widths[col]!), widths[col]!))).join(GAP));
}

/** The longest start, up to a `/`, that all the names share: `registry/prefix/`; empty when they share none. */
function commonDirectory(names: readonly string[]): string {
  if (names.length === 0) return '';
  let common = names[0]!;
  for (const name of names) while (!name.startsWith(common)) common = common.slice(0, -1);
  return common.slice(0, common.lastIndexOf('/') + 1);
}

function naturalWidths(rows: readonly (readonly string[])[]): number[] {
  return rows[0]!.map((_, col) => Math.max(...rows.map((row) => length(row[col]!))));
}

/** The length of the longest line a table with these column widths can have. */
function lineWidth(widths: readonly number[]): number {
  return widths.reduce((sum, width) => sum + width, 0) + GAP.length * (widths.length - 1);
}

/**
 * The width of each column so that a line fits `limit`: only the names shrink, fairly (the widest first, down to one
 * width for all that are cut), never below MIN_NAME_WIDTH; the others keep their width.
 */
function fitWidths(natural: readonly number[], name: readonly boolean[], limit: number | undefined): number[] {
  const total = lineWidth(natural);
  if (limit === undefined || total <= limit) return [...natural];
  const names = natural.filter((_, col) => name[col]);
  const room = limit - (total - names.reduce((sum, width) => sum + width, 0));
  const cap = Math.max(fairCap(names, room), MIN_NAME_WIDTH);
  return natural.map((width, col) => (name[col] ? Math.min(width, cap) : width));
}

/** The largest width `c` such that the widths, each cut to at most `c`, add up to no more than `room`. */
function fairCap(widths: readonly number[], room: number): number {
  const sorted = [...widths].sort((a, b) => a - b);
  let left = room;
  for (const [i, width] of sorted.entries()) {
    const share = Math.floor(left / (sorted.length - i));
    if (width > share) return share;
    left -= width;
  }
  return Number.POSITIVE_INFINITY;
}

/** Characters as a terminal counts them, near enough: code points (a CJK character or an emoji takes two columns on a terminal, one here). */
function length(text: string): number {
  return [...text].length;
}

function padTo(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - length(text)));
}
