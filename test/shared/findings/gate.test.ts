import { describe, expect, it } from 'vitest';
import { escapeText } from '../../../functions/cli/markdown.ts';
import { renderGateText } from '../../../functions/cli/render-gate.ts';
import { renderGateMarkdown } from '../../../functions/cli/render-gate-markdown.ts';
import { type GateImage, type GateReport, runGate } from '../../../shared/findings/gate.ts';
import { parseTrivyReport, type TrivyReport } from '../../../shared/findings/trivy-report.ts';
import { signOffPathFor } from '../../../shared/plan/sign-off-path.ts';
import type { DockerfileSource, Severity, SignOffReader, SignOffText } from '../../../shared/ports.ts';
import { type FixtureVulnerability, trivyReportText } from '../../fixtures/trivy-report.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const NOW = new Date();
const GATE = { severities: ['CRITICAL', 'HIGH'] as Severity[], now: NOW };
const POSTGRES = 'docker.io/library/postgres/Dockerfile';
const REDIS = 'docker.io/library/redis/Dockerfile';
const CRITICAL: FixtureVulnerability = { id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'libssl3', installed: '3.0.11', fixed: '3.0.13' };

/** `YYYY-MM-DD`, `days` from now: the gate compares with the real clock. */
function day(days: number): string {
  return new Date(NOW.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

/** A tree in memory: paths below the images root → Dockerfile text. */
function tree(files: Record<string, string>): DockerfileSource {
  return { list: async () => Object.entries(files).map(([path, text]) => ({ path, text })) };
}

/** Sign-off files in memory, keyed by their path below the root; a value with readError is a file that cannot be read. */
class MemorySignOffs implements SignOffReader {
  readonly reads: string[] = [];
  constructor(readonly files: Record<string, string | { readError: string }> = {}) {}

  async read(dockerfilePath: string): Promise<SignOffText | undefined> {
    const path = signOffPathFor(dockerfilePath);
    this.reads.push(path);
    const file = this.files[path];
    if (file === undefined) return undefined;
    return typeof file === 'string' ? { path, text: file } : { path, readError: file.readError };
  }
}

function report(artifactName: string, vulnerabilities: readonly FixtureVulnerability[] = [], more: { repoTags?: string[]; repoDigests?: string[]; file?: string } = {}): TrivyReport {
  const text = trivyReportText({ artifactName, vulnerabilities, ...(more.repoTags ? { repoTags: more.repoTags } : {}), ...(more.repoDigests ? { repoDigests: more.repoDigests } : {}) });
  return parseTrivyReport(text, more.file ?? `reports/${artifactName.replace(/[^a-z0-9]+/g, '-')}.json`);
}

function imageOf(gate: GateReport, source: string): GateImage {
  const image = gate.images.find((i) => i.source === source);
  if (image === undefined) throw new Error(`no image ${source} in ${gate.images.map((i) => i.source).join(', ')}`);
  return image;
}

describe('runGate', () => {
  it('fails an added image with a critical nobody signed off, passes once the snippet is pasted with a statement, fails again once it expires', async () => {
    const base = tree({});
    const next = tree({ [POSTGRES]: `FROM postgres:14@${D1}\n` });
    const reports = [report(`postgres:14@${D1}`, [CRITICAL])];
    const source = `docker.io/library/postgres:14@${D1}`;

    const first = await runGate({ base, next, signOffs: new MemorySignOffs() }, reports, GATE);
    expect(first.passed).toBe(false);
    const failed = imageOf(first, source);
    expect(failed).toMatchObject({ status: 'failed', change: 'added', unaccepted: 1, signOffFile: 'docker.io/library/postgres/.trivyignore.yaml' });
    expect(failed.findings.map((f) => [f.id, f.status])).toEqual([['CVE-2024-0001', 'not-signed-off']]);
    const markdown = renderGateMarkdown(first, { images: 'images' });
    expect(markdown).toContain('#### Vulnerability gate (Trivy): failed');
    expect(markdown).toContain('| `CVE-2024-0001` | CRITICAL | `libssl3` | 3.0.11 → 3.0.13 | **not signed off** |');
    expect(markdown).toContain('<code>images/docker.io/library/postgres/.trivyignore.yaml</code>');
    expect(failed.snippet).toContain('- id: CVE-2024-0001');
    expect(markdown).toContain(failed.snippet!.trimEnd());

    // What a reviewer does: paste the snippet, write the statement.
    const pasted = failed.snippet!.replace(/"TODO[^"]*"/, '"libssl3 is only linked by psql, which the image never runs as a server"');
    expect(pasted).toContain(`expired_at: ${day(90)}`);
    const signed = await runGate({ base, next, signOffs: new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': pasted }) }, reports, GATE);
    expect(signed.passed).toBe(true);
    expect(imageOf(signed, source)).toMatchObject({ status: 'passed', unaccepted: 0 });
    expect(imageOf(signed, source).findings[0]).toMatchObject({ status: 'signed-off', signOff: { file: 'docker.io/library/postgres/.trivyignore.yaml', line: 2 } });
    expect(renderGateMarkdown(signed, { images: 'images' })).toContain('#### Vulnerability gate (Trivy): passed');

    const lapsed = pasted.replace(/expired_at: .*/, `expired_at: ${day(-1)}`);
    const expired = await runGate({ base, next, signOffs: new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': lapsed }) }, reports, GATE);
    expect(expired.passed).toBe(false);
    expect(imageOf(expired, source)).toMatchObject({ status: 'failed', unaccepted: 1 });
    expect(imageOf(expired, source).findings[0]?.status).toBe('expired');
    expect(expired.summary).toMatchObject({ failed: 1, expired: 1, notSignedOff: 0, signedOff: 0 });
  });

  it('does not count a sign-off whose statement is still the TODO of the snippet', async () => {
    const next = tree({ [POSTGRES]: `FROM postgres:14@${D1}\n` });
    const todo = `vulnerabilities:\n  - id: CVE-2024-0001\n    statement: "TODO: why"\n    expired_at: ${day(30)}\n`;
    const gate = await runGate({ next, signOffs: new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': todo }) }, [report(`postgres:14@${D1}`, [CRITICAL])], GATE);
    const image = imageOf(gate, `docker.io/library/postgres:14@${D1}`);
    expect(image.status).toBe('failed');
    expect(image.findings[0]).toMatchObject({ status: 'not-signed-off', signOff: { line: 2 } });
    // The entry is there: its line wants a statement, not a second entry.
    expect(image.snippet).toBeUndefined();
    expect(image.problems).toEqual([expect.stringMatching(/^docker\.io\/library\/postgres\/\.trivyignore\.yaml: line 2: CVE-2024-0001 has no statement/)]);
  });

  it('matches an image pinned by digest to the report of that digest, by its ArtifactName or its RepoDigests', async () => {
    const next = tree({ [POSTGRES]: `FROM postgres:14@${D1}\n` });
    const byName = report(`postgres:14@${D1}`, [CRITICAL], { file: 'a.json' });
    const byRepoDigest = report('postgres:14', [], { repoDigests: [`postgres@${D1}`], file: 'b.json' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [byName, byRepoDigest], GATE);
    expect(gate.unmatchedReports).toEqual([]);
    expect(imageOf(gate, `docker.io/library/postgres:14@${D1}`).reports).toEqual([
      { file: 'a.json', artifactName: `postgres:14@${D1}` },
      { file: 'b.json', artifactName: 'postgres:14' },
    ]);
  });

  it('does not match a pinned image to a report of another digest under the same tag', async () => {
    const next = tree({ [POSTGRES]: `FROM postgres:14@${D1}\n` });
    const other = report(`postgres:14@${D2}`, [CRITICAL], { repoTags: ['postgres:14'], file: 'other.json' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [other], GATE);
    expect(gate.images).toEqual([]);
    expect(gate.unmatchedReports).toEqual([{ file: 'other.json', artifactName: `postgres:14@${D2}`, scanned: `docker.io/library/postgres:14@${D2}` }]);
    // A notice: nothing failed, the tree's one image was not scanned (without --base, counted only).
    expect(gate.passed).toBe(true);
    expect(gate.summary).toMatchObject({ checked: 0, notScanned: 1, unmatchedReports: 1 });
  });

  it.each([
    ['the ArtifactName with the digest the plan resolved', `redis:7@${D2}`, {}],
    ['the ArtifactName', 'docker.io/library/redis:7', {}],
    ['RepoTags of a scan by digest', `redis@${D2}`, { repoTags: ['redis:7'] }],
    ['a Docker Hub alias', 'index.docker.io/library/redis:7', {}],
  ])('matches an image named by tag through %s', async (_, artifactName, more) => {
    const next = tree({ [REDIS]: 'FROM redis:7\n' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [report(artifactName, [CRITICAL], more)], GATE);
    expect(gate.unmatchedReports).toEqual([]);
    expect(imageOf(gate, 'docker.io/library/redis:7').status).toBe('failed');
  });

  it.each([
    ['another tag', 'redis:6'],
    ['another repository with the same tag', 'bitnami/redis:7'],
    ['another registry', 'quay.io/library/redis:7'],
  ])('does not match an image named by tag to a report of %s', async (_, artifactName) => {
    const next = tree({ [REDIS]: 'FROM redis:7\n' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [report(artifactName, [CRITICAL])], GATE);
    expect(gate.images).toEqual([]);
    expect(gate.unmatchedReports).toHaveLength(1);
  });

  it('judges the findings of two reports of one image together and lists both', async () => {
    const next = tree({ [REDIS]: 'FROM redis:7\n' });
    const high = { id: 'CVE-2024-0002', severity: 'HIGH' as const, pkgName: 'zlib1g', installed: '1.2.13', fixed: '1.3' };
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [report('redis:7', [CRITICAL], { file: 'amd64.json' }), report('redis:7', [CRITICAL, high], { file: 'arm64.json' })], GATE);
    const image = imageOf(gate, 'docker.io/library/redis:7');
    expect(image.reports.map((r) => r.file)).toEqual(['amd64.json', 'arm64.json']);
    // The same finding in both reports is one finding.
    expect(image.findings.map((f) => f.id)).toEqual(['CVE-2024-0001', 'CVE-2024-0002']);
    expect(image.unaccepted).toBe(2);
  });

  it('fails an image added or changed against the base that no report scanned, and leaves unchanged images alone', async () => {
    const base = tree({ [REDIS]: 'FROM redis:7\n', 'docker.io/library/nginx/Dockerfile': 'FROM nginx:1.25\n' });
    const next = tree({ [REDIS]: 'FROM redis:7.2\n', 'docker.io/library/nginx/Dockerfile': 'FROM nginx:1.25\n', [POSTGRES]: `FROM postgres:14@${D1}\n` });
    const signOffs = new MemorySignOffs();
    const gate = await runGate({ base, next, signOffs }, [report(`postgres:14@${D1}`)], GATE);
    expect(gate.passed).toBe(false);
    expect(gate.scope).toBe('changes');
    expect(gate.images.map((i) => [i.source, i.change, i.status])).toEqual([
      [`docker.io/library/postgres:14@${D1}`, 'added', 'passed'],
      ['docker.io/library/redis:7.2', 'changed', 'not-scanned'],
    ]);
    expect(gate.summary).toMatchObject({ checked: 2, passed: 1, failed: 0, notScanned: 1 });
    // An image no report scanned has no sign-offs to read.
    expect(signOffs.reads).toEqual(['docker.io/library/postgres/.trivyignore.yaml']);
  });

  it('without a base, counts the images no report scanned and fails none for it', async () => {
    const next = tree({ [REDIS]: 'FROM redis:7\n', [POSTGRES]: 'FROM postgres:14\n' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [report('redis:7')], GATE);
    expect(gate).toMatchObject({ passed: true, scope: 'all', summary: { checked: 1, passed: 1, notScanned: 1 } });
  });

  it('gates only the severities asked for; the others neither fail nor show, but keep their sign-offs from going stale', async () => {
    const next = tree({ [REDIS]: 'FROM redis:7\n' });
    const medium: FixtureVulnerability = { id: 'CVE-2024-0003', severity: 'MEDIUM', pkgName: 'curl', installed: '7.88', fixed: '8.0' };
    const signed = `vulnerabilities:\n  - id: CVE-2024-0003\n    statement: curl is never run\n`;
    const signOffs = new MemorySignOffs({ 'docker.io/library/redis/.trivyignore.yaml': signed });
    const reports = [report('redis:7', [{ ...CRITICAL, severity: 'HIGH' }, medium])];
    const criticalOnly = await runGate({ next, signOffs }, reports, { severities: ['CRITICAL'], now: NOW });
    expect(criticalOnly.passed).toBe(true);
    expect(imageOf(criticalOnly, 'docker.io/library/redis:7')).toMatchObject({ findings: [], stale: [] });
    const withHigh = await runGate({ next, signOffs }, reports, GATE);
    expect(withHigh.passed).toBe(false);
    expect(imageOf(withHigh, 'docker.io/library/redis:7').findings.map((f) => [f.id, f.severity])).toEqual([['CVE-2024-0001', 'HIGH']]);
  });

  it('fails an image whose sign-off file is broken, naming it, and judges the other images', async () => {
    const next = tree({ [REDIS]: 'FROM redis:7\n', [POSTGRES]: 'FROM postgres:14\n' });
    const signOffs = new MemorySignOffs({ 'docker.io/library/redis/.trivyignore.yaml': 'vulnerabilities: [\n', 'docker.io/library/postgres/.trivyignore.yaml': { readError: 'EACCES' } });
    const gate = await runGate({ next, signOffs }, [report('redis:7'), report('postgres:14'), report('nginx:1')], GATE);
    expect(gate.passed).toBe(false);
    expect(imageOf(gate, 'docker.io/library/redis:7')).toMatchObject({ status: 'failed', error: expect.stringContaining('"docker.io/library/redis/.trivyignore.yaml"') });
    expect(imageOf(gate, 'docker.io/library/postgres:14')).toMatchObject({ status: 'failed', error: 'reading the sign-off file "docker.io/library/postgres/.trivyignore.yaml": EACCES' });
    expect(gate.unmatchedReports).toHaveLength(1);
  });

  it('calls a sign-off stale only when no image reading its file has the finding, and counts it once', async () => {
    // One Dockerfile naming two images: its sign-off file is read by both.
    const next = tree({ 'app/Dockerfile': 'FROM golang:1.22 AS build\nFROM debian:12\n' });
    const file = `vulnerabilities:\n  - id: CVE-2024-0001\n    statement: build stage only\n  - id: CVE-2020-9999\n    statement: long fixed\n`;
    const gate = await runGate({ next, signOffs: new MemorySignOffs({ 'app/.trivyignore.yaml': file }) }, [report('golang:1.22', [CRITICAL]), report('debian:12')], GATE);
    expect(gate.passed).toBe(true);
    expect(imageOf(gate, 'docker.io/library/golang:1.22').stale.map((s) => s.id)).toEqual(['CVE-2020-9999']);
    expect(imageOf(gate, 'docker.io/library/debian:12').stale.map((s) => s.id)).toEqual(['CVE-2020-9999']);
    expect(gate.summary.stale).toBe(1);
  });

  it('labels an image added or changed as mirror plan --base does: a file that names another repository adds it', async () => {
    // The plan pairs images by file and repository: redis gives way to valkey in one file, which the plan lists as added.
    const base = tree({ 'docker.io/team/cache/Dockerfile': 'FROM redis:7\n', [POSTGRES]: 'FROM postgres:14\n' });
    const next = tree({ 'docker.io/team/cache/Dockerfile': 'FROM valkey/valkey:8\n', [POSTGRES]: 'FROM postgres:14.13\n' });
    const gate = await runGate({ base, next, signOffs: new MemorySignOffs() }, [], GATE);
    expect(gate.images.map((i) => [i.source, i.change, i.status])).toEqual([
      ['docker.io/library/postgres:14.13', 'changed', 'not-scanned'],
      ['docker.io/valkey/valkey:8', 'added', 'not-scanned'],
    ]);
  });

  it('asks no report of an image the base names in another file, as the plan lists none to scan', async () => {
    const base = tree({ [REDIS]: 'FROM redis:7\n' });
    const next = tree({ [REDIS]: 'FROM redis:7\n', 'docker.io/team/cache/Dockerfile': 'FROM redis:7\n' });
    const gate = await runGate({ base, next, signOffs: new MemorySignOffs() }, [], GATE);
    expect(gate).toMatchObject({ passed: true, images: [], summary: { notScanned: 0 } });
  });

  it('says how to renew each expired sign-off: its entry once, with an expired_at SIGN_OFF_DAYS from now', async () => {
    const next = tree({ [POSTGRES]: 'FROM postgres:14\n' });
    const file = `vulnerabilities:\n  - id: CVE-2024-0001\n    statement: psql only\n    expired_at: ${day(-1)}\n`;
    const twoPackages = [CRITICAL, { ...CRITICAL, pkgName: 'libcrypto3' }];
    const gate = await runGate({ next, signOffs: new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': file }) }, [report('postgres:14', twoPackages)], GATE);
    const image = imageOf(gate, 'docker.io/library/postgres:14');
    expect(image.findings.map((f) => f.status)).toEqual(['expired', 'expired']);
    expect(image.renew).toEqual([{ id: 'CVE-2024-0001', file: 'docker.io/library/postgres/.trivyignore.yaml', line: 2, expiredAt: day(90) }]);
    // The entry is there: it wants a new date, not a second entry.
    expect(image.snippet).toBeUndefined();
    const renew = `renew: set expired_at at images/docker.io/library/postgres/.trivyignore.yaml:2 to ${day(90)} (and check the statement still holds)`;
    expect(renderGateText(gate, { images: 'images' }).split('\n')).toContain(`  ${renew}`);
    expect(renderGateMarkdown(gate, { images: 'images' })).toContain(`- ${escapeText(renew)}`);
  });

  it('proposes no second entry for an id whose entry is ignored for its paths or purls, and points at that entry', async () => {
    const next = tree({ [POSTGRES]: 'FROM postgres:14\n' });
    const high: FixtureVulnerability = { id: 'CVE-2024-0002', severity: 'HIGH', pkgName: 'zlib1g', installed: '1.2.13', fixed: '1.3' };
    const file = ['vulnerabilities:', '  - id: CVE-2024-0001', '    statement: psql only', '    purls:', '      - not-a-package-url', ''].join('\n');
    const gate = await runGate({ next, signOffs: new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': file }) }, [report('postgres:14', [CRITICAL, high])], GATE);
    const image = imageOf(gate, 'docker.io/library/postgres:14');
    expect(image.findings.map((f) => [f.id, f.status])).toEqual([
      ['CVE-2024-0001', 'not-signed-off'],
      ['CVE-2024-0002', 'not-signed-off'],
    ]);
    expect(image.problems).toEqual([expect.stringMatching(/^docker\.io\/library\/postgres\/\.trivyignore\.yaml: line 2: CVE-2024-0001 .* so the entry is ignored$/)]);
    expect(image.ignoredEntries).toEqual([{ id: 'CVE-2024-0001', file: 'docker.io/library/postgres/.trivyignore.yaml', line: 2 }]);
    expect(image.snippet).toContain('- id: CVE-2024-0002');
    expect(image.snippet).not.toContain('CVE-2024-0001');
    const text = renderGateText(gate, { images: 'images' });
    expect(text).toContain('  fix: the entry of CVE-2024-0001 at images/docker.io/library/postgres/.trivyignore.yaml:2 is ignored');
    expect(renderGateMarkdown(gate, { images: 'images' })).toContain('fix: the entry of CVE-2024-0001 at images/docker.io/library/postgres/.trivyignore.yaml:2 is ignored');
  });

  it('escapes what a sign-off reader says of a file it could not read', async () => {
    const next = tree({ [POSTGRES]: 'FROM postgres:14\n' });
    const signOffs = new MemorySignOffs({ 'docker.io/library/postgres/.trivyignore.yaml': { readError: 'denied\n::error::forged\u001b[2J' } });
    const gate = await runGate({ next, signOffs }, [report('postgres:14')], GATE);
    const error = imageOf(gate, 'docker.io/library/postgres:14').error ?? '';
    expect(error).toMatch(/^reading the sign-off file "docker\.io\/library\/postgres\/\.trivyignore\.yaml": denied/);
    expect(error).not.toMatch(/[\n\u001b]/);
  });

  it('counts invalid Dockerfiles as a notice and does not fail on them', async () => {
    const next = tree({ [REDIS]: 'FROM redis:7\n', 'docker.io/library/broken/Dockerfile': 'FROM Broken\n' });
    const gate = await runGate({ next, signOffs: new MemorySignOffs() }, [report('redis:7')], GATE);
    expect(gate).toMatchObject({ passed: true, summary: { invalidFiles: 1, passed: 1 } });
  });
});
