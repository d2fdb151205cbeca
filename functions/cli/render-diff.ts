import { DOCKER_HUB } from '../../shared/image-ref/reference.ts';
import type { DiffBudget, DiffEntry, DiffReport, RemovedEntry } from '../../shared/plan/diff-report.ts';
import { describePinDrift } from '../../shared/plan/pin-drift.ts';
import type { FileIssue } from '../../shared/ports.ts';
import { describeLimit } from '../../shared/sync/pull-budget.ts';
import { code, escapeHtml, escapeText, limitRows } from './markdown.ts';
import { fileIssueLines, shortDigest } from './render.ts';

/** The first line of the markdown: a workflow finds its earlier comment by it and edits that one. */
export const PLAN_COMMENT_MARKER = '<!-- image-mirror:plan -->';

/** Rows shown per table: a PR comment holds at most 65,536 characters. */
const MAX_ROWS = 100;

/**
 * The plan diff as a pull-request comment: counts, the sync cost, a table per category (digest and target of each new
 * image), pins whose tag moved, and the invalid files folded in two parts: those the change introduces, which fail the
 * check, and those already broken on the base, which do not.
 */
export function renderDiffMarkdown(report: DiffReport): string {
  const s = report.summary;
  const lines = [PLAN_COMMENT_MARKER, '### Images to mirror', ''];
  const counts = [`**${s.added}** added`, `**${s.changed}** changed`, `**${s.removed}** removed`, `${s.unchanged} unchanged`];
  if (s.invalid > 0) counts.push(`**${plural(s.invalid, 'invalid file')}**`);
  if (s.alreadyBroken > 0) counts.push(`${s.alreadyBroken} already broken on ${code(report.base)}`);
  if (s.notMirrored > 0) counts.push(`${plural(s.notMirrored, 'file')} not mirrored (registry not allowed)`);
  if (s.pinDrift > 0) counts.push(`⚠️ ${s.pinDrift} pin${s.pinDrift === 1 ? '' : 's'} behind ${s.pinDrift === 1 ? 'its tag' : 'their tags'}`);
  lines.push(`Compared with ${code(report.base)}: ${counts.join(', ')}.`, '', costSentence(report, { strong: (text) => `**${text}**`, text: escapeText }));

  const targets = [...report.added, ...report.changed].some((e) => e.target !== null);
  const targetHead = targets ? ' target |' : '';
  const targetRule = targets ? ' --- |' : '';
  const targetCell = (e: DiffEntry) => (targets ? ` ${e.target === null ? '–' : code(e.target)} |` : '');
  if (report.added.length > 0) {
    lines.push('', `#### Added (${report.added.length})`, '', `| image |${targetHead} digest | platforms | pulls | files |`, `| --- |${targetRule} --- | --- | ---: | --- |`);
    lines.push(...limitRows(report.added, MAX_ROWS, (e) => `| ${code(e.source)} |${targetCell(e)} ${digestCell(e.digest)} | ${platformsCell(e, report)} | ${numberCell(e.pulls)} | ${e.files.map(code).join('<br>')} |`));
  }
  if (report.changed.length > 0) {
    lines.push('', `#### Changed (${report.changed.length})`, '', `| image | was |${targetHead} digest | platforms | pulls | files |`, `| --- | --- |${targetRule} --- | --- | ---: | --- |`);
    lines.push(
      ...limitRows(report.changed, MAX_ROWS, (e) => `| ${code(e.source)} | ${code(e.previous ?? '')} |${targetCell(e)} ${digestCell(e.digest)} | ${platformsCell(e, report)} | ${numberCell(e.pulls)} | ${e.files.map(code).join('<br>')} |`),
    );
  }
  if (report.removed.length > 0) {
    lines.push('', `#### Removed (${report.removed.length})`, '', '| image | | files |', '| --- | --- | --- |');
    lines.push(...limitRows(report.removed, MAX_ROWS, (e) => `| ${code(e.source)} | ${removedNote(e)} | ${e.files.map(code).join('<br>')} |`));
  }
  const drifted = [...report.added, ...report.changed].filter((e) => e.pinDrift !== null);
  if (drifted.length > 0) {
    lines.push('', `#### ⚠️ Pins whose tag has moved upstream (${drifted.length})`, '');
    lines.push(...drifted.slice(0, MAX_ROWS).map((e) => `- ${code(e.source)} (${e.files.map(code).join(', ')}): ${e.pinDrift === null ? '' : escapeText(describePinDrift(e.pinDrift))}`));
  }
  const failed = [...report.added, ...report.changed].flatMap((e) => [e.error, e.pinDriftError, e.artifactsError ?? null]).filter((error): error is string => error !== null);
  if (failed.length > 0) {
    lines.push('', '#### Lookup problems', '');
    lines.push(...failed.slice(0, MAX_ROWS).map((error) => `- ${escapeText(error)}`));
  }
  if (report.invalid.length > 0) {
    const files = plural(s.invalid, 'invalid file');
    lines.push('', `<details open><summary><b>Introduced by this change: ${files}</b>: nothing is mirrored from ${s.invalid === 1 ? 'it' : 'them'}, and the check fails</summary>`);
    lines.push(...issueTable(report.invalid, 'error'), '', '</details>');
  }
  if (report.alreadyBroken.length > 0) {
    const files = plural(s.alreadyBroken, 'invalid file');
    lines.push('', `<details><summary>Already broken on <code>${escapeHtml(report.base)}</code> (not this change's): ${files}, which fail nothing here</summary>`);
    lines.push(...issueTable(report.alreadyBroken, 'error'), '', '</details>');
  }
  if (report.warnings.length > 0) {
    lines.push('', `<details><summary>${plural(report.warnings.length, 'warning')}</summary>`);
    lines.push(...issueTable(report.warnings, 'warning'), '', '</details>');
  }
  lines.push('', `<sub>${footnote(report)}</sub>`);
  return `${lines.join('\n')}\n`;
}

/** A table of file issues, after the blank line a table needs below a `<summary>`. */
function issueTable(issues: readonly FileIssue[], what: 'error' | 'warning'): string[] {
  return ['', `| file | ${what} |`, '| --- | --- |', ...limitRows(issues, MAX_ROWS, (issue) => `| ${code(issue.file)} | ${escapeText(issue.message)} |`)];
}

/** The plan diff for a terminal. */
export function renderDiffText(report: DiffReport): string {
  const s = report.summary;
  const counts = [`${s.added} added, ${s.changed} changed, ${s.removed} removed, ${s.unchanged} unchanged`, plural(s.invalid, 'invalid file')];
  if (s.alreadyBroken > 0) counts.push(`${s.alreadyBroken} already broken on ${report.base} (not this change's)`);
  if (s.notMirrored > 0) counts.push(`${plural(s.notMirrored, 'file')} not mirrored (registry not allowed)`);
  const lines = [`Compared with ${report.base}: ${counts.join('; ')}`];
  const costLine = (e: DiffEntry) => {
    if (e.namedElsewhere) return 'already named in the base: nothing to copy';
    if (e.error !== null) return e.error;
    if (e.pulls === null) return 'cost not looked up';
    return `${e.index ? e.platforms?.join(', ') : 'single image'}; ${plural(e.pulls, 'pull')}${artifactsNote(e)}`;
  };
  const section = (title: string, entries: readonly DiffEntry[]) => {
    if (entries.length === 0) return;
    lines.push('', `${title}:`);
    for (const e of entries) {
      lines.push(`  ${e.previous === null ? e.source : `${e.previous} -> ${e.source}`}  (${e.files.join(', ')})`, `    ${costLine(e)}`);
      if (e.pinDrift !== null) lines.push(`    warning: ${describePinDrift(e.pinDrift)}`);
      if (e.pinDriftError !== null) lines.push(`    warning: ${e.pinDriftError}`);
      if (e.artifactsError) lines.push(`    warning: ${e.artifactsError}`);
    }
  };
  section('Added', report.added);
  section('Changed', report.changed);
  if (report.removed.length > 0) {
    lines.push('', 'Removed:');
    for (const e of report.removed) lines.push(`  ${e.source}  (${e.files.join(', ')})${e.namedElsewhere ? ' - still named in another file' : ''}`);
  }
  lines.push(...issueLines('Invalid files introduced by this change (nothing mirrored from them; the check fails):', report.invalid));
  lines.push(...issueLines(`Already broken on ${report.base} (not this change's; nothing mirrored from them, the check does not fail for them):`, report.alreadyBroken));
  lines.push(...fileIssueLines([], report.warnings));
  lines.push('', costSentence(report, { strong: (text) => text, text: (text) => text }), footnote(report));
  return `${lines.join('\n')}\n`;
}

/** A block of file issues under its header, nothing when there are none. */
function issueLines(header: string, issues: readonly FileIssue[]): string[] {
  return issues.length === 0 ? [] : ['', header, ...issues.map((issue) => `  ${issue.file}: ${issue.message}`)];
}

/** How the cost sentence marks a figure, and escapes text that came from a registry. */
interface Marks {
  readonly strong: (text: string) => string;
  readonly text: (text: string) => string;
}

/**
 * The pulls the sync takes, in all and from each registry that counts them: against its budget as the lookups left
 * it, when it told one (a paid Docker Hub account tells none, and no limit is then made up).
 */
function costSentence(report: DiffReport, marks: Marks): string {
  const s = report.summary;
  if (s.added + s.changed === 0) return 'Nothing new to copy.';
  if (!report.costLookedUp) return 'The sync cost was not looked up (--no-cost).';
  const bound = s.costComplete ? '' : ' at least (some costs are unknown)';
  const artifacts = s.artifactPulls ? ` (${s.artifactPulls} of them for signatures and other artifacts, --artifacts ${report.artifacts ?? ''})` : '';
  const sentences = [`Syncing this costs the sources ${marks.strong(String(s.pulls))} pull${s.pulls === 1 ? '' : 's'}${artifacts}${bound}.`];
  const hubBudget = report.budgets.some((b) => b.registry === DOCKER_HUB);
  if (!hubBudget && [...report.added, ...report.changed].some((e) => e.dockerHub)) sentences.push(`Docker Hub: ${marks.strong(String(s.dockerHubPulls))} pull${s.dockerHubPulls === 1 ? '' : 's'}.`);
  sentences.push(...report.budgets.map((b) => budgetSentence(b, report.pullReserve, marks)));
  return sentences.join(' ');
}

/** `Docker Hub: 12 pulls; 76 of 100 per 6 h left for 192.0.2.1, which fits above the 20 kept in reserve.` */
function budgetSentence(budget: DiffBudget, reserve: number, marks: Marks): string {
  const name = budget.registry === DOCKER_HUB ? 'Docker Hub' : budget.registry;
  const left = `${budget.remaining} of ${describeLimit(budget)} left${budget.source ? ` for ${marks.text(budget.source)}` : ''}`;
  const above = Math.max(0, budget.remaining - reserve);
  const fit = budget.fits ? `which fits above the ${reserve} kept in reserve` : `${above === 0 ? 'none' : `only ${above}`} above the ${reserve} kept in reserve: the sync will defer some images to later runs`;
  return `${name}: ${marks.strong(String(budget.pulls))} pull${budget.pulls === 1 ? '' : 's'}; ${left}, ${fit}.`;
}

function footnote(report: DiffReport): string {
  const s = report.summary;
  const hub = s.dockerHubLookupGets > 0 ? ` (${s.dockerHubLookupGets} on Docker Hub, counted as pulls)` : '';
  const gets = s.lookupGets === 0 ? 'no manifest GET' : `${plural(s.lookupGets, 'manifest GET')} to read indexes${hub}`;
  const signatures = report.artifacts === undefined ? '' : ', a HEAD per cosign tag and a referrers list (neither is counted)';
  const lookup = report.costLookedUp ? `Looking the costs up took a HEAD per image, which Docker Hub does not count${signatures}, and ${gets}. ` : '';
  return (
    `${lookup}A pull here is a manifest GET, as the sync counts them: one for a single image, one for an index and one for each of its entries; ` +
    'that is at least what Docker Hub counts, which counts a multi-platform pull once per architecture (https://docs.docker.com/docker-hub/usage/pulls/). ' +
    'Removed images stay in the target registry; they are no longer synced.'
  );
}

function platformsCell(e: DiffEntry, report: DiffReport): string {
  if (e.namedElsewhere) return 'already mirrored: named in the base';
  if (e.error !== null) return e.error.includes('no such image') ? '⚠️ not found' : '⚠️ lookup failed';
  if (!report.costLookedUp || e.platforms === null) return '–';
  return e.index ? escapeText(e.platforms.join(', ')) : 'single image';
}

/** `sha256:0123456789ab…` with the whole digest in its title; a dash when none is known. */
function digestCell(digest: string | null): string {
  if (digest === null) return '–';
  // The digest was checked where it was read (a file's pin, a registry's header); escaped all the same.
  return `<code title="${escapeHtml(digest)}">${escapeHtml(shortDigest(digest))}</code>`;
}

/** ` (2 for signatures and other artifacts)` after an image's pulls, when its artifacts take some. */
function artifactsNote(e: DiffEntry): string {
  return e.artifactPulls ? ` (${e.artifactPulls} for signatures and other artifacts)` : '';
}

function removedNote(e: RemovedEntry): string {
  return e.namedElsewhere ? 'still named in another file' : 'no longer synced';
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function numberCell(value: number | null): string {
  return value === null ? '–' : String(value);
}
