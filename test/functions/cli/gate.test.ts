import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderGateMarkdown } from '../../../functions/cli/render-gate-markdown.ts';
import { renderGateText } from '../../../functions/cli/render-gate.ts';
import { type GateReport, runGate } from '../../../shared/findings/gate.ts';
import { parseTrivyReport } from '../../../shared/findings/trivy-report.ts';
import type { SignOffReader } from '../../../shared/ports.ts';
import { signOffPathFor } from '../../../shared/plan/sign-off-path.ts';
import { runBin, runCli, writeImagesTree } from '../../support/cli.ts';
import { type FixtureVulnerability, trivyReportText } from '../../fixtures/trivy-report.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const NOW = new Date();
const CRITICAL: FixtureVulnerability = { id: 'CVE-2024-0001', severity: 'CRITICAL', pkgName: 'libssl3', installed: '3.0.11', fixed: '3.0.13' };
const HIGH: FixtureVulnerability = { id: 'CVE-2024-0002', severity: 'HIGH', pkgName: 'zlib1g', installed: '1.2.13', fixed: '1.3' };
const POSTGRES_SIGN_OFFS = 'docker.io/library/postgres/.trivyignore.yaml';

function day(days: number): string {
  return new Date(NOW.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

/** A directory holding these files (path → text), for reports. */
async function writeFiles(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-reports-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

/** The gate of one postgres image with these findings and this sign-off file, judged in memory. */
async function postgresGate(vulnerabilities: readonly FixtureVulnerability[], signOffs?: string, artifactName = `postgres:14@${D1}`): Promise<GateReport> {
  const reader: SignOffReader = { read: async (path) => (signOffs === undefined ? undefined : { path: signOffPathFor(path), text: signOffs }) };
  const next = { list: async () => [{ path: 'docker.io/library/postgres/Dockerfile', text: `FROM postgres:14@${D1}\n` }] };
  return runGate({ next, signOffs: reader }, [parseTrivyReport(trivyReportText({ artifactName, vulnerabilities }), 'reports/postgres.json')], { severities: ['CRITICAL', 'HIGH'], now: NOW });
}

/** Markdown without its fenced blocks and code spans: what GitHub renders as markup. */
function outsideCode(markdown: string): string {
  return markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm, '').replace(/(`+)[\s\S]*?[^`]\1(?!`)/g, '');
}

describe('renderGateText', () => {
  it('prints per image a header, a line per finding with where it is signed off, stale sign-offs, the snippet and the counts', async () => {
    const expired = { ...HIGH, id: 'CVE-2024-0003' };
    const signOffs = [
      'vulnerabilities:',
      '  - id: CVE-2024-0002',
      '    statement: zlib is not reachable',
      `    expired_at: ${day(30)}`,
      '  - id: CVE-2024-0003',
      '    statement: was fine',
      `    expired_at: ${day(-2)}`,
      '  - id: CVE-2019-0001',
      '    statement: long gone',
      '',
    ].join('\n');
    const text = renderGateText(await postgresGate([CRITICAL, HIGH, expired], signOffs), { images: 'images/' });
    const lines = text.split('\n');
    expect(lines[0]).toBe(`docker.io/library/postgres:14@${D1} (docker.io/library/postgres/Dockerfile): failed: 1 not signed off, 1 expired, 1 signed off`);
    expect(lines).toContain('  CVE-2024-0001 CRITICAL libssl3 3.0.11 → 3.0.13  not signed off');
    expect(lines).toContain(`  CVE-2024-0002 HIGH zlib1g 1.2.13 → 1.3  signed off (images/${POSTGRES_SIGN_OFFS}:2, until ${day(30)})`);
    expect(lines).toContain(`  CVE-2024-0003 HIGH zlib1g 1.2.13 → 1.3  sign-off expired ${day(-2)} (images/${POSTGRES_SIGN_OFFS}:5)`);
    expect(lines).toContain(`  stale sign-off: CVE-2019-0001 (images/${POSTGRES_SIGN_OFFS}:8) matches no finding: remove it`);
    expect(lines).toContain(`  to sign off, add to images/${POSTGRES_SIGN_OFFS}, write each statement and get the change approved:`);
    expect(lines).toContain('      - id: CVE-2024-0001');
    expect(lines.at(-2)).toBe('gate: 1 image checked: 0 passed, 1 failed; 1 finding not signed off, 1 expired, 1 signed off, 1 stale sign-off (gated: CRITICAL, HIGH)');
  });

  it('shows a sign-off file\'s problems under --images, as every other path of the report', async () => {
    const text = renderGateText(await postgresGate([CRITICAL], 'vulnerabilities:\n  - id: CVE-2024-0001\n'), { images: 'images/' });
    expect(text.split('\n')).toContain(`  sign-off file: images/${POSTGRES_SIGN_OFFS}: line 2: CVE-2024-0001 has no statement (why it is acceptable), so it signs nothing off`);
  });

  it('escapes what a report holds: no terminal escape nor line of its own', async () => {
    const text = renderGateText(await postgresGate([{ ...CRITICAL, pkgName: 'evil\u001b[2J\n::error::pwned' }]), { images: 'images' });
    expect(text).not.toContain('\u001b');
    expect(text).not.toMatch(/^::error::/m);
    expect(text).toContain('evil\\u001b[2J\\n::error::pwned');
  });
});

describe('renderGateMarkdown', () => {
  it('escapes package names, ids and versions from the report: no HTML, no mention, no broken table', async () => {
    const hostile = { id: 'CVE-2024-`|x', severity: 'CRITICAL' as const, pkgName: '<img src=x onerror=alert(1)>|@admin', installed: '1.0 <b>', fixed: '</details>@team' };
    const markdown = renderGateMarkdown(await postgresGate([hostile]), { images: 'images' });
    // Inside code spans and the fenced snippet, markup and mentions are shown as they are; outside, none may be left.
    const prose = outsideCode(markdown);
    expect(prose).not.toMatch(/<(img|b|\/details>@)/);
    expect(prose).not.toMatch(/@(admin|team)/);
    expect(prose.match(/<\/?details>/g)).toEqual(['<details>', '</details>']);
    const row = markdown.split('\n').find((line) => line.includes('CRITICAL |'))!;
    // Five cells: every "|" of the report is escaped.
    expect(row.split(/(?<!\\)\|/).length - 2).toBe(5);
  });

  it('puts the snippet in a fence no backtick of a report can close', async () => {
    const markdown = renderGateMarkdown(await postgresGate([{ ...CRITICAL, id: 'CVE-```-1' }]), { images: 'images' });
    const opening = /^(`{4,})yaml$/m.exec(markdown);
    expect(opening).not.toBeNull();
    const rest = markdown.slice(opening!.index + opening![0].length);
    expect(rest).toContain(`\n${opening![1]}\n`);
    expect(rest.slice(0, rest.indexOf(`\n${opening![1]}\n`))).toContain('CVE-```-1');
  });

  it('stays below GitHub\'s comment limit for a report with 5,000 findings, saying how many were left out', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ id: `CVE-2024-${String(i).padStart(5, '0')}`, severity: 'CRITICAL' as const, pkgName: `package-${'x'.repeat(80)}-${i}`, installed: '1.0.0', fixed: '1.0.1' }));
    const markdown = renderGateMarkdown(await postgresGate(many), { images: 'images' });
    expect(markdown.length).toBeLessThan(65_536 / 2);
    expect(markdown).toContain('| … and 4960 more (see `--format json`) | | | | |');
    expect(markdown).toMatch(/# … and \d+ more entries: see mirror gate's text or JSON report/);
  });
});

describe('mirror gate', () => {
  async function setUp(signOffs?: string) {
    const images = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': `FROM postgres:14@${D1}\n`, ...(signOffs === undefined ? {} : { [POSTGRES_SIGN_OFFS]: signOffs }) });
    const reports = await writeFiles({ 'postgres.json': trivyReportText({ artifactName: `postgres:14@${D1}`, vulnerabilities: [CRITICAL] }) });
    return { images, report: join(reports, 'postgres.json'), reports };
  }

  it('exits 1 for a critical nobody signed off, printing it and the snippet to paste', async () => {
    const { images, report } = await setUp();
    const run = await runCli(['gate', '--images', images, '--trivy', report]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('  CVE-2024-0001 CRITICAL libssl3 3.0.11 → 3.0.13  not signed off');
    expect(run.stdout).toContain(`to sign off, add to ${images}/${POSTGRES_SIGN_OFFS}`);
    expect(run.stdout).toContain('gate: 1 image checked: 0 passed, 1 failed');
  });

  it('exits 0 once the finding is signed off with a statement, reading every *.json of a --trivy directory', async () => {
    const { images, reports } = await setUp(`vulnerabilities:\n  - id: CVE-2024-0001\n    statement: psql only\n    expired_at: ${day(10)}\n`);
    await writeFile(join(reports, 'notes.txt'), 'not a report');
    const run = await runCli(['gate', '--images', images, '--trivy', reports, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const gate = JSON.parse(run.stdout) as GateReport;
    expect(gate).toMatchObject({ passed: true, severities: ['CRITICAL', 'HIGH'], scope: 'all', unmatchedReports: [], summary: { checked: 1, passed: 1, signedOff: 1 } });
    expect(gate.images[0]).toMatchObject({
      source: `docker.io/library/postgres:14@${D1}`,
      status: 'passed',
      reports: [{ file: join(reports, 'postgres.json'), artifactName: `postgres:14@${D1}` }],
      findings: [{ id: 'CVE-2024-0001', status: 'signed-off', signOff: { file: POSTGRES_SIGN_OFFS, line: 2, expiredAtText: day(10) } }],
    });
  });

  it('prints markdown for a pull request\'s comment and appends it to --summary-file', async () => {
    const { images, report } = await setUp();
    const summary = join(await writeFiles({}), 'summary.md');
    await writeFile(summary, 'before\n');
    const run = await runCli(['gate', '--images', images, '--trivy', report, '--format', 'markdown', '--summary-file', summary]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^#### Vulnerability gate \(Trivy\): failed\n/);
    expect(run.stdout).toContain('| `CVE-2024-0001` | CRITICAL | `libssl3` | 3.0.11 → 3.0.13 | **not signed off** |');
    expect(run.stdout).toContain('```yaml\nvulnerabilities:\n  - id: CVE-2024-0001\n');
    expect(await readFile(summary, 'utf8')).toBe(`before\n\n${run.stdout}`);
  });

  it('fails an image --base does not have when no report scanned it', async () => {
    const { images, report } = await setUp();
    await mkdir(join(images, 'docker.io/library/redis'), { recursive: true });
    await writeFile(join(images, 'docker.io/library/redis/Dockerfile'), 'FROM redis:7\n');
    const base = await writeImagesTree({});
    const signedOff = `vulnerabilities:\n  - id: CVE-2024-0001\n    statement: psql only\n`;
    await writeFile(join(images, POSTGRES_SIGN_OFFS), signedOff);
    const run = await runCli(['gate', '--images', images, '--trivy', report, '--base', base, '--json']);
    expect(run.code, run.stderr).toBe(1);
    const gate = JSON.parse(run.stdout) as GateReport;
    expect(gate.images.map((i) => [i.source, i.change, i.status])).toEqual([
      [`docker.io/library/postgres:14@${D1}`, 'added', 'passed'],
      ['docker.io/library/redis:7', 'added', 'not-scanned'],
    ]);
  });

  it.each([
    ['a report that is no JSON', 'broken.json', '{"SchemaVersion": 2,', /reading the Trivy report ".*broken\.json": not JSON/],
    ['a report of another schema', 'old.json', '{"SchemaVersion": 1}', /reading the Trivy report ".*old\.json": SchemaVersion is 1/],
  ])('exits 2 for %s, naming the file', async (_, name, text, message) => {
    const { images } = await setUp();
    const dir = await writeFiles({ [name]: text });
    const run = await runCli(['gate', '--images', images, '--trivy', join(dir, name)]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });

  it.each([
    ['no --trivy', [], /required option '--trivy <file\|dir>' not specified/],
    ['a missing report', ['--trivy', 'no-such-report.json'], /--trivy: cannot read "no-such-report\.json": ENOENT/],
    ['a bad --severity', ['--trivy', 'REPORT', '--severity', 'CRITICAL,SEVERE'], /"SEVERE" is no severity/],
    ['--json with --format markdown', ['--trivy', 'REPORT', '--json', '--format', 'markdown'], /--json and --format markdown exclude each other/],
  ])('exits 2 for %s', async (_, args, message) => {
    const { images, report } = await setUp();
    const run = await runCli(['gate', '--images', images, ...args.map((arg) => (arg === 'REPORT' ? report : arg))]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('reads a --trivy directory holding no report as no report: with --base, each added image fails as not scanned', async () => {
    const { images } = await setUp();
    const base = await writeImagesTree({});
    const empty = await writeFiles({});
    const run = await runCli(['gate', '--images', images, '--trivy', empty, '--base', base, '--format', 'markdown']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^#### Vulnerability gate \(Trivy\): failed\n/);
    expect(run.stdout).toContain(`**\`docker.io/library/postgres:14@${D1}\`** (added): **not scanned**: no report scanned it.`);
    // A path that is not there is still a report lost on the way.
    const missing = await runCli(['gate', '--images', images, '--trivy', join(empty, 'reports'), '--base', base]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--trivy: cannot read ".*reports": ENOENT/);
  });

  it('exits 2 for a --trivy directory holding no report', async () => {
    const { images } = await setUp();
    const empty = await writeFiles({ 'readme.txt': 'no reports here' });
    const run = await runCli(['gate', '--images', images, '--trivy', empty]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`the directory "${empty}" holds no *.json report`);
  });

  it('lists every option, the exit codes and a sign-off file in --help', async () => {
    const run = await runCli(['gate', '--help']);
    expect(run.code).toBe(0);
    for (const option of ['--images <dir>', '--trivy <file|dir>', '--severity <list>', '--base <dir|git-ref>', '--format <format>', '--json', '--summary-file <file>']) expect(run.stdout).toContain(option);
    expect(run.stdout).toMatch(/Examples:\n  mirror gate /);
    expect(run.stdout).toMatch(/Exit codes:\n  0 [\s\S]*\n  1 [\s\S]*\n  2 /);
    expect(run.stdout).toMatch(/Environment:\n  \S/);
    expect(run.stdout).not.toContain('(default: [])');
    expect(run.stdout).toContain('  vulnerabilities:\n    - id: CVE-2024-1234\n      statement:');
  });

  it('exits with the gate\'s code as a real process', async () => {
    const { images, report } = await setUp();
    const run = await runBin(['gate', '--images', images, '--trivy', report, '--format', 'json']);
    expect(run.code, run.stderr).toBe(1);
    expect((JSON.parse(run.stdout) as GateReport).passed).toBe(false);
  });
});
