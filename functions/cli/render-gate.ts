import type { GateImage, GateReport, GateSummary, SignOffEntry, SignOffRenewal } from '../../shared/findings/gate.ts';
import type { SignOff } from '../../shared/findings/sign-offs.ts';
import type { JudgedFinding } from '../../shared/findings/verdict.ts';
import { safeMessage } from '../../shared/safe-text.ts';

// `mirror gate`'s report for people: per image a header line and a line per finding, the stale sign-offs, the snippet
// to paste, then the notices and the counts. Reports are outside input: every string of theirs is made safe.

/** How the gate's report names files: below the --images directory as the user gave it. */
export interface GateRenderOptions {
  /** The --images value: sign-off files are shown under it (`images/docker.io/library/postgres/.trivyignore.yaml`). */
  readonly images: string;
}

/** A cell of a report (a CVE id, a package, a version), escaped and capped: a report may hold anything. */
export function clean(text: string, max = 120): string {
  return safeMessage(text, max);
}

/** A path below the images root as the user can open it: under the --images directory they gave. */
export function displayPath(images: string, path: string): string {
  const dir = images.replace(/\/+$/, '');
  return dir === '' || dir === '.' ? path : `${dir}/${path}`;
}

/** `images/…/.trivyignore.yaml:4`: the entry of a sign-off. */
export function signOffLocation(signOff: Pick<SignOff, 'file' | 'line'>, options: GateRenderOptions): string {
  return `${displayPath(options.images, clean(signOff.file, 300))}:${signOff.line}`;
}

/** A problem of a sign-off file (its path below the images root first, as the gate writes it), under --images. */
export function problemLine(problem: string, options: GateRenderOptions): string {
  return displayPath(options.images, clean(problem, 500));
}

/** `renew: set expired_at at images/…/.trivyignore.yaml:5 to 2026-06-01 (and check the statement still holds)`. */
export function renewWords(entry: SignOffRenewal, options: GateRenderOptions): string {
  return `renew: set expired_at at ${signOffLocation(entry, options)} to ${clean(entry.expiredAt, 40)} (and check the statement still holds)`;
}

/** An ignored entry the snippet leaves alone: fix it, rather than add the same id again. */
export function ignoredWords(entry: SignOffEntry, options: GateRenderOptions): string {
  const id = clean(entry.id, 80);
  return `fix: the entry of ${id} at ${signOffLocation(entry, options)} is ignored (its paths or purls, see above): fix it there; no second entry for ${id} is proposed`;
}

/** `3.0.11 → 3.0.13`, or `3.0.11 (no fix yet)`. */
export function versions(finding: JudgedFinding): string {
  const installed = finding.installedVersion === '' ? '?' : clean(finding.installedVersion, 60);
  return finding.fixedVersion === '' ? `${installed} (no fix yet)` : `${installed} → ${clean(finding.fixedVersion, 60)}`;
}

/**
 * `not signed off`, `not signed off (images/…:4 has no statement)`, `signed off (images/…:4, until 2027-03-03)`,
 * `sign-off expired 2025-01-01 (images/…:4)`.
 */
export function statusWords(finding: JudgedFinding, options: GateRenderOptions): string {
  const signOff = finding.signOff;
  if (signOff === undefined) return 'not signed off';
  const where = signOffLocation(signOff, options);
  if (finding.status === 'not-signed-off') return `not signed off (${where} has no statement)`;
  const until = signOff.expiredAtText === undefined ? '' : clean(signOff.expiredAtText, 40);
  if (finding.status === 'expired') return `sign-off expired ${until} (${where})`;
  return `signed off (${where}${until === '' ? '' : `, until ${until}`})`;
}

/** `added`, `changed`, or nothing for an image on the base already (or without --base). */
function changeWords(image: GateImage): string {
  return image.change === undefined ? '' : `${image.change}, `;
}

/** `failed: 2 not signed off, 1 expired, 1 signed off`; `not scanned: …` for an image no report scanned. */
export function imageVerdict(image: GateImage): string {
  if (image.status === 'not-scanned') return 'not scanned: no report scanned it';
  const count = (status: JudgedFinding['status']) => image.findings.filter((finding) => finding.status === status).length;
  const counts = [`${count('not-signed-off')} not signed off`, ...(count('expired') > 0 ? [`${count('expired')} expired`] : []), `${count('signed-off')} signed off`];
  return `${image.status}: ${counts.join(', ')}${image.error === undefined ? '' : ', sign-off file unreadable'}`;
}

/** The gate's report as text. */
export function renderGateText(report: GateReport, options: GateRenderOptions): string {
  const lines: string[] = [];
  for (const image of report.images) lines.push(...imageLines(image, options), '');
  if (report.images.length === 0) lines.push('No image of the tree was scanned by the reports given.', '');
  if (report.unmatchedReports.length > 0) {
    lines.push('Reports that match no image of the tree (not judged):');
    for (const r of report.unmatchedReports) lines.push(`  ${clean(r.file, 300)}: scanned ${clean(r.scanned, 300)}`);
    lines.push('');
  }
  const notices = noticeLines(report);
  if (notices.length > 0) lines.push(...notices, '');
  lines.push(gateSummaryLine(report));
  return `${lines.join('\n')}\n`;
}

function imageLines(image: GateImage, options: GateRenderOptions): string[] {
  const files = image.files.map((file) => clean(file, 300)).join(', ');
  const lines = [`${image.source} (${changeWords(image)}${files}): ${imageVerdict(image)}`];
  if (image.status === 'not-scanned') {
    lines.push(`  scan it (trivy image --format json --output report.json ${image.source}) and give the report with --trivy`);
    return lines;
  }
  if (image.error !== undefined) lines.push(`  ${clean(image.error, 1000)}`);
  for (const finding of image.findings) lines.push(`  ${clean(finding.id, 80)} ${finding.severity} ${finding.pkgName === '' ? '?' : clean(finding.pkgName)} ${versions(finding)}  ${statusWords(finding, options)}`);
  for (const signOff of image.stale) lines.push(`  stale sign-off: ${clean(signOff.id, 80)} (${signOffLocation(signOff, options)}) matches no finding: remove it`);
  for (const problem of image.problems) lines.push(`  sign-off file: ${problemLine(problem, options)}`);
  for (const entry of image.renew ?? []) lines.push(`  ${renewWords(entry, options)}`);
  for (const entry of image.ignoredEntries ?? []) lines.push(`  ${ignoredWords(entry, options)}`);
  lines.push(`  scanned by: ${image.reports.map((r) => clean(r.file, 300)).join(', ')}`);
  if (image.snippet !== undefined) {
    lines.push(`  to sign off, add to ${displayPath(options.images, clean(image.signOffFile, 300))}, write each statement and get the change approved:`);
    lines.push(...image.snippet.trimEnd().split('\n').map((line) => `    ${safeMessage(line)}`));
  }
  return lines;
}

/** What fails nothing: invalid Dockerfiles, and without --base the images no report scanned. */
function noticeLines(report: GateReport): string[] {
  const s = report.summary;
  const lines: string[] = [];
  if (s.invalidFiles > 0) lines.push(`${plural(s.invalidFiles, 'invalid Dockerfile')} name no image (see mirror plan); not gated here`);
  if (report.scope === 'all' && s.notScanned > 0) lines.push(`${plural(s.notScanned, 'image')} of the tree had no report and ${s.notScanned === 1 ? 'was' : 'were'} not gated (with --base, an added or changed image without one fails)`);
  return lines;
}

/** `gate: 3 images checked: 1 passed, 1 failed, 1 not scanned; 4 findings not signed off, 2 signed off, 1 stale sign-off`. */
export function gateSummaryLine(report: GateReport): string {
  return `gate: ${summaryWords(report.summary, report.scope)} (gated: ${report.severities.join(', ')})`;
}

/** The counts in words, shared by the text and the markdown. */
export function summaryWords(s: GateSummary, scope: GateReport['scope']): string {
  const images = [`${s.passed} passed`, `${s.failed} failed`, ...(scope === 'changes' ? [`${s.notScanned} not scanned`] : [])];
  const findings = [`${plural(s.notSignedOff, 'finding')} not signed off`, ...(s.expired > 0 ? [`${s.expired} expired`] : []), `${s.signedOff} signed off`, plural(s.stale, 'stale sign-off')];
  const notices = [...(s.unmatchedReports > 0 ? [`${plural(s.unmatchedReports, 'report')} matching no image`] : [])];
  return [`${plural(s.checked, 'image')} checked: ${images.join(', ')}`, findings.join(', '), ...notices].join('; ');
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
