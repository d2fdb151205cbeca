import { describe, expect, it } from 'vitest';
import { parseSignOffFile, type SignOff } from '../../../shared/findings/sign-offs.ts';
import { parseTrivyReport } from '../../../shared/findings/trivy-report.ts';
import { judgeFindings, SIGN_OFF_DAYS, signOffMatches, signOffSnippet } from '../../../shared/findings/verdict.ts';
import { DEFAULT_GATE_SEVERITIES } from '../../../shared/findings/vulnerabilities.ts';
import type { Finding, Severity } from '../../../shared/ports.ts';
import { trivyReportText, type FixtureVulnerability } from '../../fixtures/trivy-report.ts';

const NOW = new Date('2026-03-03T12:00:00Z');
const PATH = 'docker.io/library/postgres/.trivyignore.yaml';
const gated = { severities: new Set<Severity>(DEFAULT_GATE_SEVERITIES), now: NOW };

function findingsOf(...vulnerabilities: FixtureVulnerability[]): readonly Finding[] {
  return parseTrivyReport(trivyReportText({ artifactName: 'postgres:14', vulnerabilities }), 'report.json').findings;
}

function signOffs(yaml: string): readonly SignOff[] {
  return parseSignOffFile({ path: PATH, text: yaml }).signOffs;
}

const critical: FixtureVulnerability = { id: 'CVE-2024-1234', severity: 'CRITICAL', pkgName: 'libssl3', installed: '3.0.11-1~deb12u2', fixed: '3.0.13-1~deb12u1' };

describe('judgeFindings', () => {
  it('counts a critical nothing signs off', () => {
    const verdict = judgeFindings(findingsOf(critical), [], gated);
    expect(verdict.findings).toEqual([expect.objectContaining({ id: 'CVE-2024-1234', severity: 'CRITICAL', status: 'not-signed-off' })]);
    expect(verdict.findings[0]?.signOff).toBeUndefined();
    expect(verdict.unaccepted).toBe(1);
    expect(verdict.stale).toEqual([]);
  });

  it('accepts it once a sign-off with a statement and a future expired_at names it', () => {
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: TLS is terminated by the proxy\n    expired_at: 2026-06-01\n');
    const verdict = judgeFindings(findingsOf(critical), entries, gated);
    expect(verdict.findings).toEqual([expect.objectContaining({ status: 'signed-off', signOff: entries[0] })]);
    expect(verdict.unaccepted).toBe(0);
  });

  it('counts it again once expired_at is past', () => {
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: TLS is terminated by the proxy\n    expired_at: 2026-03-01\n');
    const verdict = judgeFindings(findingsOf(critical), entries, gated);
    expect(verdict.findings).toEqual([expect.objectContaining({ status: 'expired', signOff: entries[0] })]);
    expect(verdict.unaccepted).toBe(1);
    // An expired sign-off still names a finding: not stale.
    expect(verdict.stale).toEqual([]);
  });

  it('keeps a sign-off until the very moment of expired_at, as Trivy does', () => {
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: ok\n    expired_at: 2026-03-03T12:00:00Z\n');
    expect(judgeFindings(findingsOf(critical), entries, gated).findings[0]?.status).toBe('signed-off');
    expect(judgeFindings(findingsOf(critical), entries, { ...gated, now: new Date(NOW.getTime() + 1) }).findings[0]?.status).toBe('expired');
  });

  it('counts an entry with an unreadable expired_at as expired', () => {
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: ok\n    expired_at: someday\n');
    expect(judgeFindings(findingsOf(critical), entries, gated).findings[0]?.status).toBe('expired');
  });

  it('takes a counting sign-off over an expired one for the same finding', () => {
    const entries = signOffs(
      'vulnerabilities:\n  - id: CVE-2024-1234\n    statement: old\n    expired_at: 2025-01-01\n  - id: CVE-2024-1234\n    statement: new\n    expired_at: 2026-06-01\n',
    );
    expect(judgeFindings(findingsOf(critical), entries, gated).findings[0]).toMatchObject({ status: 'signed-off', signOff: { statement: 'new' } });
  });

  it('signs nothing off with an entry that has no statement, and names that entry', () => {
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: "TODO: why"\n    expired_at: 2026-06-01\n');
    const verdict = judgeFindings(findingsOf(critical), entries, gated);
    expect(verdict.findings).toEqual([expect.objectContaining({ status: 'not-signed-off', signOff: entries[0] })]);
    expect(verdict.unaccepted).toBe(1);
  });

  it('lists sign-offs that name no finding at any severity as stale', () => {
    const entries = signOffs(
      [
        'vulnerabilities:',
        '  - id: CVE-2024-1234',
        '    statement: ok',
        '  - id: CVE-2019-0001',
        '    statement: fixed upstream since',
        '  - id: CVE-2024-5555',
        '    statement: only a medium, still found',
      ].join('\n'),
    );
    const verdict = judgeFindings(findingsOf(critical, { id: 'CVE-2024-5555', severity: 'MEDIUM' }), entries, gated);
    expect(verdict.stale).toEqual([expect.objectContaining({ id: 'CVE-2019-0001', line: 4 })]);
  });

  it('gates only the severities asked for', () => {
    const findings = findingsOf(critical, { id: 'CVE-2024-5555', severity: 'MEDIUM' }, { id: 'CVE-2024-7777', severity: 'LOW' });
    expect(judgeFindings(findings, [], gated).findings.map((f) => f.id)).toEqual(['CVE-2024-1234']);
    const all = judgeFindings(findings, [], { severities: new Set<Severity>(['MEDIUM', 'LOW']), now: NOW });
    expect(all.findings.map((f) => f.id)).toEqual(['CVE-2024-5555', 'CVE-2024-7777']);
    expect(all.unaccepted).toBe(2);
  });

  it.each([
    ['a purl of another package', 'purls: ["pkg:deb/debian/libcrypto3"]', 'not-signed-off'],
    ['a purl of another version', 'purls: ["pkg:deb/debian/libssl3@3.0.9"]', 'not-signed-off'],
    ['a purl of another distro', 'purls: ["pkg:deb/debian/libssl3?distro=debian-11"]', 'not-signed-off'],
    ['a purl without version', 'purls: ["pkg:deb/debian/libssl3"]', 'signed-off'],
    ['the exact purl', 'purls: ["pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5"]', 'signed-off'],
    ['a purl with some of the qualifiers', 'purls: ["pkg:deb/debian/libssl3?arch=amd64"]', 'signed-off'],
    ['one matching purl of two', 'purls: ["pkg:deb/debian/libcrypto3", "pkg:deb/debian/libssl3"]', 'signed-off'],
    ['paths that match neither target nor package path', 'paths: ["usr/lib/**"]', 'not-signed-off'],
    ['a path matching the result target', 'paths: ["postgres:14 (debian *)"]', 'signed-off'],
  ])('judges an OS package signed off with %s as %s', (_, limit, status) => {
    const entries = signOffs(`vulnerabilities:\n  - id: CVE-2024-1234\n    statement: ok\n    ${limit}\n`);
    const verdict = judgeFindings(findingsOf(critical), entries, gated);
    expect(verdict.findings[0]?.status).toBe(status);
    expect(verdict.stale).toHaveLength(status === 'signed-off' ? 0 : 1);
  });

  const jar: FixtureVulnerability = { id: 'CVE-2022-22965', severity: 'CRITICAL', pkgName: 'org.springframework:spring-beans', installed: '5.3.15', pkgPath: 'usr/local/tomcat/webapps/app.war/WEB-INF/lib/spring-beans-5.3.15.jar' };

  it.each([
    ['**/*.jar', true],
    ['usr/local/tomcat/**', true],
    ['usr/local/tomcat/webapps/*/WEB-INF/lib/spring-beans-?.?.??.jar', true],
    ['usr/local/**/lib/spring-{beans,core}-*.jar', true],
    ['usr/local/tomcat/webapps/app.war/WEB-INF/lib/spring-beans-5.3.1[0-9].jar', true],
    ['usr/local/tomcat/webapps/app.war/WEB-INF/lib/spring-beans-5.3.1[!5].jar', false],
    ['usr/local/*.jar', false],
    ['*.jar', false],
    ['opt/**', false],
  ])('matches the package path against the glob %s as doublestar does: %s', (pattern, matches) => {
    const [finding] = findingsOf(jar);
    const signOff: SignOff = { id: jar.id, statement: 'ok', paths: [pattern], file: PATH, line: 2 };
    expect(signOffMatches(signOff, finding as Finding)).toBe(matches);
  });

  it('matches ** to no directory at all', () => {
    const finding: Finding = { id: 'CVE-1', severity: 'HIGH', pkgName: 'x', installedVersion: '1', fixedVersion: '', pkgPath: 'app/x.jar' };
    const signOff = (pattern: string): SignOff => ({ id: 'CVE-1', statement: 'ok', paths: [pattern], file: PATH, line: 2 });
    expect(signOffMatches(signOff('app/**/x.jar'), finding)).toBe(true);
    expect(signOffMatches(signOff('**/app/x.jar'), finding)).toBe(true);
    expect(signOffMatches(signOff('app/**'), finding)).toBe(true);
    expect(signOffMatches(signOff('ap**/x.jar'), finding)).toBe(true);
    expect(signOffMatches(signOff('a**/y.jar'), finding)).toBe(false);
  });

  it('lets purls pass a finding that has no package URL, as Trivy does (an ECR finding)', () => {
    const finding: Finding = { id: 'CVE-2024-1234', severity: 'CRITICAL', pkgName: 'libssl3', installedVersion: '3.0.11', fixedVersion: '' };
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2024-1234\n    statement: ok\n    purls: ["pkg:deb/debian/libcrypto3"]\n');
    expect(judgeFindings([finding], entries, gated).findings[0]?.status).toBe('signed-off');
  });

  it('lists each finding once, the worse verdict standing, most severe first, then by id and package', () => {
    const findings: Finding[] = [
      { id: 'CVE-2', severity: 'HIGH', pkgName: 'b', installedVersion: '1', fixedVersion: '', target: 't', pkgPath: 'x/b.jar' },
      { id: 'CVE-2', severity: 'HIGH', pkgName: 'a', installedVersion: '1', fixedVersion: '', target: 't' },
      { id: 'CVE-1', severity: 'HIGH', pkgName: 'a', installedVersion: '1', fixedVersion: '', target: 't' },
      { id: 'CVE-9', severity: 'CRITICAL', pkgName: 'z', installedVersion: '1', fixedVersion: '', target: 't' },
      // The same package as the first, found at a second path that the sign-off does not cover.
      { id: 'CVE-2', severity: 'HIGH', pkgName: 'b', installedVersion: '1', fixedVersion: '', target: 't', pkgPath: 'y/b.jar' },
    ];
    const entries = signOffs('vulnerabilities:\n  - id: CVE-2\n    statement: ok\n    paths: ["x/**"]\n');
    const verdict = judgeFindings(findings, entries, gated);
    expect(verdict.findings.map((f) => [f.id, f.pkgName, f.status])).toEqual([
      ['CVE-9', 'z', 'not-signed-off'],
      ['CVE-1', 'a', 'not-signed-off'],
      ['CVE-2', 'a', 'not-signed-off'],
      ['CVE-2', 'b', 'not-signed-off'],
    ]);
    expect(verdict.unaccepted).toBe(4);
  });
});

describe('signOffSnippet', () => {
  const findings = findingsOf(critical, { ...critical, pkgName: 'libcrypto3' }, { id: 'CVE-2024-9999', severity: 'HIGH', pkgName: 'zlib1g', installed: '1.2.13' });

  it('proposes one entry per id, with a TODO statement and expired_at SIGN_OFF_DAYS ahead', () => {
    expect(SIGN_OFF_DAYS).toBe(90);
    expect(signOffSnippet(findings, NOW)).toBe(
      [
        'vulnerabilities:',
        '  - id: CVE-2024-1234',
        '    statement: "TODO: why CVE-2024-1234 is acceptable (libssl3 3.0.11-1~deb12u2 → 3.0.13-1~deb12u1, libcrypto3 3.0.11-1~deb12u2 → 3.0.13-1~deb12u1)"',
        '    expired_at: 2026-06-01',
        '  - id: CVE-2024-9999',
        '    statement: "TODO: why CVE-2024-9999 is acceptable (zlib1g 1.2.13 → no fix yet)"',
        '    expired_at: 2026-06-01',
        '',
      ].join('\n'),
    );
  });

  it('is refused as pasted, and signs the findings off once the TODOs are replaced', () => {
    const snippet = signOffSnippet(findings, NOW);
    const pasted = parseSignOffFile({ path: PATH, text: snippet });
    expect(pasted.problems).toEqual([
      'line 2: CVE-2024-1234 has no statement (why it is acceptable), only the TODO of the pasted snippet, so it signs nothing off',
      'line 5: CVE-2024-9999 has no statement (why it is acceptable), only the TODO of the pasted snippet, so it signs nothing off',
    ]);
    expect(judgeFindings(findings, pasted.signOffs, gated).unaccepted).toBe(3);

    const edited = parseSignOffFile({ path: PATH, text: snippet.replace(/"TODO: why [^"]*"/g, '"not exposed: the service has no network listener"') });
    expect(edited.problems).toEqual([]);
    const verdict = judgeFindings(findings, edited.signOffs, gated);
    expect(verdict.unaccepted).toBe(0);
    expect(verdict.findings.every((f) => f.status === 'signed-off')).toBe(true);
    expect(edited.signOffs[0]?.expiresAt).toEqual(new Date('2026-06-01T00:00:00Z'));
    // Still counting on the last day, expired after it.
    expect(judgeFindings(findings, edited.signOffs, { ...gated, now: new Date('2026-06-02T00:00:00Z') }).unaccepted).toBe(3);
  });

  it('quotes ids and package names YAML would misread', () => {
    const odd: Finding[] = [
      { id: 'yes', severity: 'HIGH', pkgName: 'a: b #c\n"d"', installedVersion: '1', fixedVersion: '' },
      { id: '1e3', severity: 'HIGH', pkgName: '', installedVersion: '', fixedVersion: '' },
      { id: '- [x]: &y', severity: 'HIGH', pkgName: 'p', installedVersion: '1', fixedVersion: '2' },
    ];
    const file = parseSignOffFile({ path: PATH, text: signOffSnippet(odd, NOW) });
    expect(file.signOffs.map((s) => s.id)).toEqual(['yes', '1e3', '- [x]: &y']);
    expect(file.problems).toHaveLength(3);
  });

  it('is empty for no findings', () => {
    expect(signOffSnippet([], NOW)).toBe('');
  });
});
