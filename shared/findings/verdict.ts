import { Document, isMap, isScalar, isSeq } from 'yaml';
import type { SignOff } from './sign-offs.ts';
import { compilePathGlob, type PackageUrl, packageUrlMatches, parsePackageUrl } from './trivy-match.ts';
import { type Finding, SEVERITIES, type Severity } from '../ports.ts';

/** Where one finding stands: signed off by a sign-off that counts, not signed off, or signed off by one past its `expired_at`. */
export type FindingStatus = 'signed-off' | 'not-signed-off' | 'expired';

export interface JudgedFinding extends Finding {
  readonly status: FindingStatus;
  /** The sign-off that decided it: the one that counts, else the expired one; absent for a finding nothing names. */
  readonly signOff?: SignOff;
}

/** The findings of one image judged against its sign-offs. */
export interface Verdict {
  /** The findings of the gated severities, most severe first, then by id and package; one per (id, package, target). */
  readonly findings: readonly JudgedFinding[];
  /** Sign-offs that match no finding of the image at any severity (expired ones included): to clean up. */
  readonly stale: readonly SignOff[];
  /** Findings of the gated severities not signed off (`not-signed-off` and `expired`). */
  readonly unaccepted: number;
}

export interface JudgeOptions {
  /** The severities that must be signed off. */
  readonly severities: ReadonlySet<Severity>;
  /** The moment `expired_at` is compared with. */
  readonly now: Date;
}

/**
 * Judges findings against sign-offs as Trivy applies an ignore file: a sign-off names a finding by `id`, limited by its
 * `paths` (globs on the result's Target or the PkgPath) and `purls` when given; one past `expired_at` no longer counts.
 */
export function judgeFindings(findings: readonly Finding[], signOffs: readonly SignOff[], options: JudgeOptions): Verdict {
  const matchers = signOffs.map((signOff) => ({ signOff, matches: signOffMatcher(signOff) }));
  const used = new Set<SignOff>();
  const judged = new Map<string, JudgedFinding>();
  for (const finding of findings) {
    const matching = matchers.filter((matcher) => matcher.matches(finding)).map((matcher) => matcher.signOff);
    for (const signOff of matching) used.add(signOff);
    if (!options.severities.has(finding.severity)) continue;
    const verdict = judgeOne(finding, matching, options.now);
    // One finding reported twice (two layers, two paths of one package): the worse verdict stands.
    const key = findingKey(finding);
    const seen = judged.get(key);
    if (seen === undefined || STATUS_RANK[verdict.status] < STATUS_RANK[seen.status]) judged.set(key, verdict);
  }
  const sorted = [...judged.values()].sort(compareFindings);
  return {
    findings: sorted,
    stale: signOffs.filter((signOff) => !used.has(signOff)),
    unaccepted: sorted.filter((finding) => finding.status !== 'signed-off').length,
  };
}

/** True when `signOff` names `finding` as Trivy's ignore file would, whether or not it counts. */
export function signOffMatches(signOff: SignOff, finding: Finding): boolean {
  return signOffMatcher(signOff)(finding);
}

/** True once `now` is past the sign-off's `expired_at`, as Trivy prunes ignore entries. */
export function isExpired(signOff: SignOff, now: Date): boolean {
  return signOff.expiresAt !== undefined && signOff.expiresAt.getTime() < now.getTime();
}

/** One finding however often a scanner reports it (two layers, two paths of one package): id, package, version, target. */
export function findingKey(finding: Finding): string {
  return JSON.stringify([finding.id, finding.pkgName, finding.installedVersion, finding.target ?? '']);
}

/** Worst first: when one finding gets two verdicts, the lower rank stands. */
export const STATUS_RANK: Readonly<Record<FindingStatus, number>> = { 'not-signed-off': 0, expired: 1, 'signed-off': 2 };

function judgeOne(finding: Finding, matching: readonly SignOff[], now: Date): JudgedFinding {
  const withStatement = matching.filter((signOff) => signOff.statement !== undefined);
  const counting = withStatement.find((signOff) => !isExpired(signOff, now));
  if (counting !== undefined) return { ...finding, status: 'signed-off', signOff: counting };
  const expired = withStatement[0];
  if (expired !== undefined) return { ...finding, status: 'expired', signOff: expired };
  // An entry without a statement decides nothing, but is named so that the report can say what it lacks.
  const unexplained = matching[0];
  return { ...finding, status: 'not-signed-off', ...(unexplained === undefined ? {} : { signOff: unexplained }) };
}

function compareFindings(a: Finding, b: Finding): number {
  return (
    SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
    compareText(a.id, b.id) ||
    compareText(a.pkgName, b.pkgName) ||
    compareText(a.installedVersion, b.installedVersion) ||
    compareText(a.target ?? '', b.target ?? '')
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Trivy's IgnoreFindings.Match: the same id; one of `paths` matching the result's Target or the PkgPath; one of `purls`
// matching the package's URL. A finding with no package URL passes the `purls` test, as in Trivy; one whose URL cannot be
// read fails it, so that an unreadable URL never widens a sign-off.
function signOffMatcher(signOff: SignOff): (finding: Finding) => boolean {
  const globs = (signOff.paths ?? []).map(compilePathGlob);
  const purls = (signOff.purls ?? []).map(parsePackageUrl);
  // sign-offs.ts drops entries with a bad pattern or URL; one built elsewhere with one matches nothing.
  if (globs.some((glob) => glob === undefined) || purls.some((purl) => purl === undefined)) return () => false;
  const patterns = globs as RegExp[];
  const constraints = purls as PackageUrl[];
  return (finding) => {
    if (finding.id !== signOff.id) return false;
    if (patterns.length > 0 && ![finding.target ?? '', finding.pkgPath ?? ''].some((path) => patterns.some((pattern) => pattern.test(path)))) return false;
    if (constraints.length === 0 || finding.purl === undefined) return true;
    const target = parsePackageUrl(finding.purl);
    return target !== undefined && constraints.some((constraint) => packageUrlMatches(constraint, target));
  };
}

/** Days a pasted sign-off lasts before it must be looked at again: the `expired_at` the snippet proposes. */
export const SIGN_OFF_DAYS = 90;

/**
 * The YAML to paste into the image's sign-off file for these findings (each id once): entries under `vulnerabilities:`,
 * with a `statement` to be written (a TODO the gate refuses until replaced) and `expired_at` SIGN_OFF_DAYS after `now`.
 */
export function signOffSnippet(findings: readonly Finding[], now: Date): string {
  const byId = new Map<string, Finding[]>();
  for (const finding of findings) byId.set(finding.id, [...(byId.get(finding.id) ?? []), finding]);
  if (byId.size === 0) return '';
  const expiredAt = new Date(now.getTime() + SIGN_OFF_DAYS * 86_400_000).toISOString().slice(0, 10);
  const entries = [...byId].map(([id, same]) => ({ id, statement: `TODO: why ${id} is acceptable (${describePackages(same)})`, expired_at: expiredAt }));
  const doc = new Document({ vulnerabilities: entries });
  // The statement double-quoted, never a block or folded scalar; the date plain, as Trivy's YAML library reads a date.
  const list = doc.get('vulnerabilities', true);
  if (isSeq(list)) {
    for (const entry of list.items) {
      const statement = isMap(entry) ? entry.get('statement', true) : undefined;
      if (isScalar(statement)) statement.type = 'QUOTE_DOUBLE';
    }
  }
  return doc.toString({ lineWidth: 0 });
}

const MAX_PACKAGES = 3;

// `libssl3 3.0.11 → 3.0.13, libcrypto3 3.0.11 → 3.0.13`: each package once, a few at most.
function describePackages(findings: readonly Finding[]): string {
  const described = [...new Set(findings.map((f) => `${f.pkgName === '' ? 'a package' : f.pkgName} ${f.installedVersion} → ${f.fixedVersion === '' ? 'no fix yet' : f.fixedVersion}`.trim()))];
  const shown = described.slice(0, MAX_PACKAGES).join(', ');
  return described.length > MAX_PACKAGES ? `${shown} and ${described.length - MAX_PACKAGES} more` : shown;
}
