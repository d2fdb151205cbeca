import type { GateImage, GateReport } from '../../shared/findings/gate.ts';
import type { JudgedFinding } from '../../shared/findings/verdict.ts';
import { code, escapeHtml, escapeText, limitRows } from './markdown.ts';
import { clean, displayPath, type GateRenderOptions, ignoredWords, imageVerdict, plural, problemLine, renewWords, signOffLocation, statusWords, summaryWords, versions } from './render-gate.ts';

// `mirror gate --format markdown`: a section of a pull request's comment. Trivy reports are outside input (a package
// name, an ArtifactName can hold anything): every string of theirs goes through code() or escapeText(), and the section
// is kept well below GitHub's 65,536 characters of a comment, which the plan's section shares.

/** Findings shown per image: the unaccepted first, so that what is cut is what is signed off already. */
const MAX_FINDING_ROWS = 40;
/** Stale sign-offs, sign-off file problems and unmatched reports shown per list. */
const MAX_LIST_ROWS = 20;
/** The snippet shown per image, in characters; cut between entries, the rest is in the text and JSON reports. */
const MAX_SNIPPET = 4000;
/** The whole section, in characters: once an image's block would pass it, the rest of the images are counted. */
const MAX_SECTION = 40_000;

const STATUS_ORDER: Readonly<Record<JudgedFinding['status'], number>> = { 'not-signed-off': 0, expired: 1, 'signed-off': 2 };

/** The gate's report as a markdown section: heading, counts, per image a table and the snippet to paste. */
export function renderGateMarkdown(report: GateReport, options: GateRenderOptions): string {
  const head = [`#### Vulnerability gate (Trivy): ${report.passed ? 'passed' : 'failed'}`, '', `${escapeText(summaryWords(report.summary, report.scope))}. Severities that must be signed off: ${report.severities.join(', ')}.`];
  const tail = [...unmatchedBlock(report), ...noticeBlock(report)];
  // Failed and unscanned images first: when the section is cut, what is cut has passed.
  const images = [...report.images].sort((a, b) => rank(a) - rank(b));
  let size = [...head, ...tail].join('\n').length;
  const blocks: string[] = [];
  let shown = 0;
  for (const image of images) {
    const block = imageBlock(image, options).join('\n');
    if (shown > 0 && size + block.length > MAX_SECTION) break;
    blocks.push('', block);
    size += block.length + 1;
    shown++;
  }
  const left = images.slice(shown);
  if (left.length > 0) {
    const failing = left.filter((image) => image.status !== 'passed').length;
    blocks.push('', `… and ${plural(left.length, 'more image')} (${failing} failing) left out to fit the comment: see \`mirror gate --format json\`.`);
  }
  return `${[...head, ...blocks, ...tail].join('\n')}\n`;
}

function rank(image: GateImage): number {
  return image.status === 'failed' ? 0 : image.status === 'not-scanned' ? 1 : 2;
}

function imageBlock(image: GateImage, options: GateRenderOptions): string[] {
  const change = image.change === undefined ? '' : ` (${image.change})`;
  const verdict = escapeText(imageVerdict(image)).replace(/^(failed|not scanned)/, '**$1**');
  const lines = [`**${code(image.source)}**${change}: ${verdict}. Files: ${image.files.map((file) => code(clean(file, 300))).join(', ')}.`];
  if (image.status === 'not-scanned') {
    lines.push('', `No report scanned it: scan it with \`trivy image --format json\` and give the report with \`--trivy\`.`);
    return lines;
  }
  lines.push('', `Reports: ${limitRows(image.reports, MAX_LIST_ROWS, (r) => code(clean(r.file, 300)), (more) => `and ${more} more`).join(', ')}.`);
  if (image.error !== undefined) lines.push('', `> **Sign-off file unreadable:** ${escapeText(clean(image.error, 1000))}`);
  if (image.findings.length > 0) lines.push('', ...findingTable(image.findings, options));
  if (image.stale.length > 0) {
    const item = (s: GateImage['stale'][number]) => `- ${code(clean(s.id, 80))} (${code(signOffLocation(s, options))}) matches no finding: remove it`;
    lines.push('', `Stale sign-offs: ${image.stale.length}`, '', ...limitRows(image.stale, MAX_LIST_ROWS, item, listMore));
  }
  if (image.problems.length > 0) {
    lines.push('', `Sign-off entries that sign nothing off: ${image.problems.length}`, '', ...limitRows(image.problems, MAX_LIST_ROWS, (p) => `- ${escapeText(problemLine(p, options))}`, listMore));
  }
  // What to do about an expired or ignored entry: never a second entry for its id in the snippet.
  const fixes = [...(image.renew ?? []).map((entry) => renewWords(entry, options)), ...(image.ignoredEntries ?? []).map((entry) => ignoredWords(entry, options))];
  if (fixes.length > 0) lines.push('', ...limitRows(fixes, MAX_LIST_ROWS, (fix) => `- ${escapeText(fix)}`, listMore));
  if (image.snippet !== undefined) lines.push('', ...snippetBlock(image, options));
  return lines;
}

function findingTable(findings: readonly JudgedFinding[], options: GateRenderOptions): string[] {
  const ordered = [...findings].sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
  const row = (f: JudgedFinding) => {
    const status = f.status === 'signed-off' ? escapeText(statusWords(f, options)) : `**${escapeText(statusWords(f, options))}**`;
    return `| ${code(clean(f.id, 80))} | ${f.severity} | ${f.pkgName === '' ? '–' : code(clean(f.pkgName))} | ${escapeText(versions(f))} | ${status} |`;
  };
  const more = (count: number) => `| … and ${count} more (see \`--format json\`) | | | | |`;
  return ['| CVE | severity | package | installed → fixed | status |', '| --- | --- | --- | --- | --- |', ...limitRows(ordered, MAX_FINDING_ROWS, row, more)];
}

/** Where to paste, and what: the file to edit in the summary, the YAML in a fence no backtick of a report can close. */
function snippetBlock(image: GateImage, options: GateRenderOptions): string[] {
  const file = displayPath(options.images, clean(image.signOffFile, 300));
  const snippet = cutSnippet(image.snippet!.trimEnd());
  const longest = Math.max(0, ...(snippet.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [
    `<details><summary>Sign off: add to <code>${escapeHtml(file)}</code></summary>`,
    '',
    'Replace each TODO with why the finding is acceptable here (a TODO signs nothing off); the approval of the change is the sign-off.',
    '',
    `${fence}yaml`,
    snippet,
    fence,
    '',
    '</details>',
  ];
}

/** The snippet, or as much of it as fits, cut before an entry (`- id:`), saying how many entries were left out. */
function cutSnippet(snippet: string): string {
  if (snippet.length <= MAX_SNIPPET) return snippet;
  const lines = snippet.split('\n');
  const entry = (line: string) => /^\s*- id:/.test(line);
  let kept = 0;
  let size = 0;
  for (const [i, line] of lines.entries()) {
    if (entry(line)) kept = i;
    size += line.length + 1;
    if (size > MAX_SNIPPET) break;
  }
  const left = lines.slice(kept).filter(entry).length;
  return [...lines.slice(0, kept), `# … and ${left} more entries: see mirror gate's text or JSON report`].join('\n');
}

function unmatchedBlock(report: GateReport): string[] {
  if (report.unmatchedReports.length === 0) return [];
  const item = (r: GateReport['unmatchedReports'][number]) => `- ${code(clean(r.file, 300))}: scanned ${code(clean(r.scanned, 300))}`;
  return ['', `Reports that match no image of the tree (not judged): ${report.unmatchedReports.length}`, '', ...limitRows(report.unmatchedReports, MAX_LIST_ROWS, item, listMore)];
}

function noticeBlock(report: GateReport): string[] {
  const s = report.summary;
  const notices = [
    ...(s.invalidFiles > 0 ? [`${plural(s.invalidFiles, 'invalid Dockerfile')} name no image (see the plan); not gated here.`] : []),
    ...(report.scope === 'all' && s.notScanned > 0 ? [`${plural(s.notScanned, 'image')} of the tree had no report and ${s.notScanned === 1 ? 'was' : 'were'} not gated.`] : []),
  ];
  return notices.length === 0 ? [] : ['', ...notices];
}

function listMore(more: number): string {
  return `- … and ${more} more (see \`--format json\`)`;
}
