import { describeError } from '../errors.ts';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { Acceptance, DockerfileSource, Finding, ScanFindingsReader, ScannedImage, Severity, SeverityCounts, SignOffReader, SignOffText, UnacceptedFinding } from '../ports.ts';
import { safeText } from '../safe-text.ts';
import { type LocatedSignOffs, locateSignOffs, type LocateSettings } from './locate-sign-offs.ts';
import { parseSignOffFile, type SignOff } from './sign-offs.ts';
import { findingKey, type JudgedFinding, judgeFindings, STATUS_RANK } from './verdict.ts';

/** What judging a scan reads: the registry's findings, the images tree and its sign-off files. */
export interface AcceptanceDeps {
  readonly findings: ScanFindingsReader;
  readonly source: DockerfileSource;
  readonly signOffs: SignOffReader;
  /** The moment `expired_at` is compared with; now unless a test says otherwise. */
  readonly now?: () => Date;
}

/** How repositories are named, and where the images root is, to tell the user which file to edit. */
export interface AcceptanceSettings extends LocateSettings {
  /** The images root inside the images repository (`images`; empty for the whole repository). */
  readonly imagesPath: string;
  /** The images repository on the web at its ref (`https://github.com/octo/images/blob/main`), when known. */
  readonly webUrl?: string;
}

/** What pages on AWS: the severities the critical-findings alarm and the unaccepted metrics are about. */
export const ACCEPTANCE_SEVERITIES: ReadonlySet<Severity> = new Set<Severity>(['CRITICAL', 'HIGH']);

/**
 * Judges a scanned image's CRITICAL and HIGH findings against the sign-offs beside its Dockerfile. An image without
 * such findings costs no call. Fails closed: when the findings or the images tree cannot be read, the event's raw
 * counts are unaccepted (the findings named when they could be read) and `error` says what failed; a sign-off file
 * that cannot be read or parsed signs nothing off and is named in `problems`; findings the event counted that ECR does
 * not list count as unaccepted. An image the scan may be several of (untagged) needs each one's sign-off.
 */
export async function judgeScan(image: ScannedImage & { readonly counts: SeverityCounts }, deps: AcceptanceDeps, settings: AcceptanceSettings): Promise<Acceptance> {
  const { counts } = image;
  if (counts.critical + counts.high === 0) return rawAcceptance(counts);
  const [findings, located] = await Promise.allSettled([deps.findings.findings(image.repository, image.digest), locateSignOffs(image, deps, settings)]);
  const where = located.status === 'fulfilled' ? signOffLocation(located.value, settings) : EMPTY_LOCATION;
  const errors = [findings, located].flatMap((result) => (result.status === 'rejected' ? [describeError(result.reason)] : []));
  if (findings.status === 'rejected') return { ...rawAcceptance(counts), ...where, error: errors.join('; ') };
  const gated = findings.value.filter((finding) => ACCEPTANCE_SEVERITIES.has(finding.severity));
  if (located.status === 'rejected') {
    // No sign-off could be read: the findings are all unaccepted, and named, so that the on-call sees which.
    const unaccepted = judgeFindings(gated, [], { severities: ACCEPTANCE_SEVERITIES, now: deps.now?.() ?? new Date() }).findings.map(unacceptedOf);
    return { ...rawAcceptance(counts), unaccepted, error: errors.join('; ') };
  }
  if (gated.length === 0) {
    // The event counted findings the scan's report does not hold: judging nothing would accept them unseen.
    const error = `reading the scan findings of ${safeText(image.repository)}@${image.digest}: ECR listed no CRITICAL or HIGH finding although the scan event counted ${counts.critical} critical and ${counts.high} high`;
    return { ...rawAcceptance(counts), ...where, error };
  }
  const { byFile, problems } = readSignOffs(located.value.files, settings);
  if (located.value.dockerfiles.length === 0) {
    problems.unshift(`no Dockerfile of the images tree names ${safeText(image.repository)}${image.tags.length > 0 ? ` with tag ${image.tags.map((tag) => safeText(tag)).join(', ')}` : ''}, so no sign-off applies`);
  }
  const judged = judgeCandidates(gated, located.value.candidates, byFile, deps.now?.() ?? new Date());
  const unaccepted = judged.filter((finding) => finding.status !== 'signed-off').map(unacceptedOf);
  const unlisted = unlistedFindings(gated, counts);
  if (unlisted.critical + unlisted.high > 0) problems.unshift(unlistedProblem(image, gated, counts, unlisted));
  return {
    unacceptedCritical: countOf(unaccepted, 'CRITICAL') + unlisted.critical,
    unacceptedHigh: countOf(unaccepted, 'HIGH') + unlisted.high,
    unaccepted,
    signedOff: judged.length - unaccepted.length,
    expired: unaccepted.filter((finding) => finding.status === 'expired').length,
    ...where,
    problems,
  };
}

/** The event's own counts taken as unaccepted: for an image without findings to judge, or when judging is not possible. */
export function rawAcceptance(counts: SeverityCounts, problem?: string): Acceptance {
  return {
    unacceptedCritical: counts.critical,
    unacceptedHigh: counts.high,
    unaccepted: [],
    signedOff: 0,
    expired: 0,
    ...EMPTY_LOCATION,
    problems: problem === undefined ? [] : [problem],
  };
}

const EMPTY_LOCATION = { signOffFiles: [], signOffUrls: [], dockerfiles: [] } as const satisfies Pick<Acceptance, 'signOffFiles' | 'signOffUrls' | 'dockerfiles'>;

/** The sign-off file of each Dockerfile, whether it exists yet or not: where a sign-off is to be written. */
function signOffLocation(located: LocatedSignOffs, settings: AcceptanceSettings): Pick<Acceptance, 'signOffFiles' | 'signOffUrls' | 'dockerfiles'> {
  const signOffFiles = located.dockerfiles.map((dockerfile) => inRepository(signOffPathFor(dockerfile), settings));
  const base = settings.webUrl?.replace(/\/+$/, '');
  return { dockerfiles: located.dockerfiles, signOffFiles, signOffUrls: base === undefined ? [] : signOffFiles.map((file) => `${base}/${file}`) };
}

/** The sign-offs of every readable file, by path; a file that cannot be read or parsed signs nothing off and is named in the problems. */
function readSignOffs(files: readonly SignOffText[], settings: AcceptanceSettings): { byFile: Map<string, readonly SignOff[]>; problems: string[] } {
  const byFile = new Map<string, readonly SignOff[]>();
  const problems: string[] = [];
  for (const file of files) {
    const named = inRepository(file.path, settings);
    if (file.readError !== undefined || file.text === undefined) {
      problems.push(`reading the sign-off file "${named}": ${file.readError ?? 'no content'}; its sign-offs do not count`);
      continue;
    }
    try {
      const parsed = parseSignOffFile(file);
      byFile.set(file.path, parsed.signOffs);
      problems.push(...parsed.problems.map((problem) => `${named}: ${problem}`));
    } catch (error) {
      // A SignOffFileError names the file; anything else is this file's problem too, never the other files'.
      problems.push(`${describeError(error)}; its sign-offs do not count`);
    }
  }
  return { byFile, problems };
}

/**
 * The findings judged against each candidate image's sign-offs apart, each keeping its worst verdict: the scan may be
 * of any candidate, so a finding is accepted only when every one accepts it. No candidate: nothing signs anything off.
 */
function judgeCandidates(gated: readonly Finding[], candidates: readonly (readonly string[])[], byFile: ReadonlyMap<string, readonly SignOff[]>, now: Date): JudgedFinding[] {
  const options = { severities: ACCEPTANCE_SEVERITIES, now };
  const verdicts = (candidates.length === 0 ? [[]] : candidates).map((paths) => judgeFindings(gated, paths.flatMap((path) => byFile.get(path) ?? []), options).findings);
  // judgeFindings keeps one finding per (id, package, version, target), whatever the sign-offs: the same ones each time.
  const worst = new Map<string, JudgedFinding>();
  for (const finding of verdicts.flat()) {
    const key = findingKey(finding);
    const seen = worst.get(key);
    if (seen === undefined || STATUS_RANK[finding.status] < STATUS_RANK[seen.status]) worst.set(key, finding);
  }
  return [...worst.values()];
}

/**
 * The critical and high findings the event counted that ECR did not list (a later scan of the image replaced the one
 * the event is about, or the list came back short): they cannot be judged, so each counts as unaccepted. The rule:
 * per severity, unaccepted = the listed ones no sign-off accepts + max(0, counted − listed).
 */
function unlistedFindings(gated: readonly Finding[], counts: SeverityCounts): { critical: number; high: number } {
  return { critical: Math.max(0, counts.critical - countOf(gated, 'CRITICAL')), high: Math.max(0, counts.high - countOf(gated, 'HIGH')) };
}

function unlistedProblem(image: ScannedImage, gated: readonly Finding[], counts: SeverityCounts, unlisted: { critical: number; high: number }): string {
  return (
    `reading the scan findings of ${safeText(image.repository)}@${image.digest}: ECR listed ${countOf(gated, 'CRITICAL')} critical and ${countOf(gated, 'HIGH')} high findings ` +
    `although the scan event counted ${counts.critical} critical and ${counts.high} high; the ${unlisted.critical} critical and ${unlisted.high} high it did not list count as unaccepted`
  );
}

/** A path below the images root as a path of the images repository: `images/docker.io/library/postgres/.trivyignore.yaml`. */
function inRepository(path: string, settings: AcceptanceSettings): string {
  return settings.imagesPath === '' ? path : `${settings.imagesPath}/${path}`;
}

function unacceptedOf(finding: JudgedFinding): UnacceptedFinding {
  return { id: finding.id, severity: finding.severity, pkgName: finding.pkgName, status: finding.status === 'expired' ? 'expired' : 'not-signed-off' };
}

function countOf(findings: readonly Pick<Finding, 'severity'>[], severity: Severity): number {
  return findings.filter((finding) => finding.severity === severity).length;
}
