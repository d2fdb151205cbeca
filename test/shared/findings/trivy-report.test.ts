import { describe, expect, it } from 'vitest';
import { ReportError, UsageError } from '../../../shared/errors.ts';
import { parseTrivyReport } from '../../../shared/findings/trivy-report.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { trivyReportJson, trivyReportText } from '../../fixtures/trivy-report.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const FILE = 'reports/postgres.json';

function parse(report: unknown): ReturnType<typeof parseTrivyReport> {
  return parseTrivyReport(JSON.stringify(report), FILE);
}

describe('parseTrivyReport', () => {
  it('reads the image and its findings from a report in Trivy shape', () => {
    const report = parseTrivyReport(
      trivyReportText({
        artifactName: `postgres:14@${DIGEST}`,
        repoTags: ['postgres:14'],
        repoDigests: [`postgres@${DIGEST}`],
        vulnerabilities: [
          { id: 'CVE-2024-1234', severity: 'CRITICAL', pkgName: 'libssl3', installed: '3.0.11', fixed: '3.0.13' },
          { id: 'CVE-2022-22965', severity: 'HIGH', pkgName: 'org.springframework:spring-beans', installed: '5.3.15', pkgPath: 'app/lib/spring-beans-5.3.15.jar' },
        ],
      }),
      FILE,
    );
    expect(report.file).toBe(FILE);
    expect(report.artifactName).toBe(`postgres:14@${DIGEST}`);
    // Tag and digest both kept, normalised the way Docker does.
    expect(report.reference).toEqual({ registry: 'docker.io', repository: 'library/postgres', tag: '14', digest: DIGEST });
    // The ArtifactName's digest and RepoDigests' name one image: listed once, by digest only.
    expect(report.digests.map(formatReference)).toEqual([`docker.io/library/postgres@${DIGEST}`]);
    expect(report.tags.map(formatReference)).toEqual(['docker.io/library/postgres:14']);
    expect(report.findings).toEqual([
      {
        id: 'CVE-2024-1234',
        severity: 'CRITICAL',
        pkgName: 'libssl3',
        installedVersion: '3.0.11',
        fixedVersion: '3.0.13',
        title: 'libssl3: CVE-2024-1234',
        url: 'https://avd.aquasec.com/nvd/cve-2024-1234',
        purl: 'pkg:deb/debian/libssl3@3.0.11?arch=amd64&distro=debian-12.5',
        target: `postgres:14@${DIGEST} (debian 12.5)`,
      },
      {
        id: 'CVE-2022-22965',
        severity: 'HIGH',
        pkgName: 'org.springframework:spring-beans',
        installedVersion: '5.3.15',
        fixedVersion: '',
        title: 'org.springframework:spring-beans: CVE-2022-22965',
        url: 'https://avd.aquasec.com/nvd/cve-2022-22965',
        pkgPath: 'app/lib/spring-beans-5.3.15.jar',
        purl: 'pkg:maven/org.springframework/spring-beans@5.3.15',
        target: 'Java',
      },
    ]);
  });

  it('normalises index.docker.io and keeps every digest the report names', () => {
    const report = parse(trivyReportJson({ artifactName: `index.docker.io/library/postgres@${DIGEST}`, repoDigests: [`postgres@${DIGEST}`, `ghcr.io/acme/pg@${OTHER}`] }));
    expect(report.reference).toEqual({ registry: 'docker.io', repository: 'library/postgres', digest: DIGEST });
    expect(report.digests.map(formatReference)).toEqual([`docker.io/library/postgres@${DIGEST}`, `ghcr.io/acme/pg@${OTHER}`]);
    expect(report.tags).toEqual([]);
  });

  it('reads a clean image: no Results, or Results without Vulnerabilities', () => {
    const noResults = { ...trivyReportJson({ artifactName: 'postgres:14' }) };
    delete noResults.Results;
    expect(parse(noResults).findings).toEqual([]);
    expect(parse({ ...noResults, Results: null }).findings).toEqual([]);
    expect(parse(trivyReportJson({ artifactName: 'postgres:14' })).findings).toEqual([]);
    expect(parse({ ...noResults, Results: [{ Target: 'x', Vulnerabilities: null }] }).findings).toEqual([]);
  });

  it('skips RepoTags and RepoDigests it cannot read, and takes an ArtifactName that is no reference as none', () => {
    const report = parse(trivyReportJson({ artifactName: 'Not A Reference', repoTags: ['<none>:<none>', 'postgres:14'], repoDigests: ['postgres@md5:abc', `postgres@${DIGEST}`] }));
    expect(report.reference).toBeUndefined();
    expect(report.tags.map(formatReference)).toEqual(['docker.io/library/postgres:14']);
    expect(report.digests.map(formatReference)).toEqual([`docker.io/library/postgres@${DIGEST}`]);
  });

  function withVulnerability(vulnerability: Record<string, unknown>): unknown {
    return { ...trivyReportJson({ artifactName: 'postgres:14' }), Results: [{ Target: 'postgres:14 (debian 12.5)', Vulnerabilities: [vulnerability] }] };
  }

  it.each([
    ['text that is no JSON', '{"SchemaVersion": 2,', 'not JSON'],
    ['a JSON list', '[]', 'expected a JSON object, got []'],
    ['SchemaVersion 1', JSON.stringify({ ...trivyReportJson({ artifactName: 'postgres:14' }), SchemaVersion: 1 }), 'SchemaVersion is 1, not 2'],
    ['no SchemaVersion', JSON.stringify({ ArtifactName: 'postgres:14' }), 'SchemaVersion is nothing, not 2'],
    ['a filesystem report', JSON.stringify({ ...trivyReportJson({ artifactName: '.' }), ArtifactType: 'filesystem' }), 'ArtifactType is "filesystem", not "container_image"'],
    ['no ArtifactName', JSON.stringify({ SchemaVersion: 2 }), 'ArtifactName must be the image scanned'],
    ['Results not a list', JSON.stringify({ ...trivyReportJson({ artifactName: 'postgres:14' }), Results: {} }), 'Results must be a list'],
    ['Vulnerabilities not a list', JSON.stringify({ ...trivyReportJson({ artifactName: 'postgres:14' }), Results: [{ Target: 'x', Vulnerabilities: 'none' }] }), 'Results[0].Vulnerabilities must be a list'],
    ['a bad Severity', JSON.stringify(withVulnerability({ VulnerabilityID: 'CVE-1', Severity: 'SEVERE' })), 'Results[0].Vulnerabilities[0] (CVE-1): Severity "SEVERE" is no Trivy severity'],
    ['no Severity', JSON.stringify(withVulnerability({ VulnerabilityID: 'CVE-1' })), 'Severity nothing is no Trivy severity'],
    ['no VulnerabilityID', JSON.stringify(withVulnerability({ Severity: 'HIGH' })), 'Results[0].Vulnerabilities[0].VulnerabilityID must be a non-empty string'],
    ['a PkgName of the wrong type', JSON.stringify(withVulnerability({ VulnerabilityID: 'CVE-1', Severity: 'HIGH', PkgName: 7 })), '(CVE-1).PkgName must be a string, got 7'],
    ['RepoTags not a list of strings', JSON.stringify({ ...trivyReportJson({ artifactName: 'postgres:14' }), Metadata: { RepoTags: 'postgres:14' } }), 'Metadata.RepoTags must be a list of strings'],
  ])('refuses %s, naming the file', (_, text, problem) => {
    const read = () => parseTrivyReport(text, FILE);
    expect(read).toThrow(ReportError);
    expect(read).toThrow(UsageError);
    expect(read).toThrow(`reading the Trivy report "${FILE}": `);
    expect(read).toThrow(problem);
  });

  it('quotes outside text safely in its messages', () => {
    const text = JSON.stringify(withVulnerability({ VulnerabilityID: 'CVE-1\n::error::x', Severity: 'BAD' }));
    expect(() => parseTrivyReport(text, 'a\nb.json')).toThrow('reading the Trivy report "a\\nb.json": Results[0].Vulnerabilities[0] (CVE-1\\n::error::x)');
  });
});
