import { describe, expect, it } from 'vitest';
import type { Report } from '../../../shared/plan/report.ts';
import { runBin, runCli, writeImagesTree } from '../../support/cli.ts';

const D = `sha256:${'d'.repeat(64)}`;

describe('mirror plan', () => {
  it('lists every image with its target and the invalid files, as one JSON document, exiting 1 for the invalid file', async () => {
    const images = await writeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      'quay.io/prometheus/node-exporter/Dockerfile': `FROM quay.io/prometheus/node-exporter:v1.8.2@${D}\n`,
      'docker.io/library/broken/Dockerfile': 'FROM Broken\n',
    });
    const run = await runCli(['plan', '--images', images, '--target', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror', '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results).toEqual([
      {
        file: 'docker.io/library/postgres/Dockerfile',
        files: ['docker.io/library/postgres/Dockerfile'],
        source: 'docker.io/library/postgres:14',
        target: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/docker.io/library/postgres:14',
        status: 'planned',
        digest: null,
        error: null,
      },
      {
        file: 'quay.io/prometheus/node-exporter/Dockerfile',
        files: ['quay.io/prometheus/node-exporter/Dockerfile'],
        source: `quay.io/prometheus/node-exporter:v1.8.2@${D}`,
        target: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/quay.io/prometheus/node-exporter:v1.8.2',
        status: 'planned',
        digest: D,
        error: null,
      },
    ]);
    expect(report.errors).toEqual([{ file: 'docker.io/library/broken/Dockerfile', message: 'line 1: invalid image reference "Broken": repository "library/Broken" must be lowercase' }]);
    expect(report.summary).toMatchObject({ planned: 2, invalid: 1 });
  });

  it('prints a table and a summary line for people, exiting 0 when all is valid', async () => {
    const images = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n' });
    const run = await runCli(['plan', '--images', images]);
    expect(run.code).toBe(0);
    // No TARGET nor DIGEST column: a plain plan without --target and without pins would have only `-` in them.
    expect(run.stdout).toMatch(/^STATUS\s+SOURCE\s+FILE\nplanned\s+docker\.io\/library\/redis:7\s+docker\.io\/library\/redis\/Dockerfile\n/);
    expect(run.stdout).toContain('1 image planned; 0 invalid files');
  });

  it('applies the allow-list and the name template', async () => {
    const images = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n', 'ghcr.io/a/b/Dockerfile': 'FROM ghcr.io/a/b:1\n' });
    const run = await runCli(['plan', '--images', images, '--target', 'r.example.com/m', '--allow-registry', 'docker.io', '--name-template', '{repository}', '--json']);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => r.target)).toEqual(['r.example.com/m/library/redis:7']);
    // A registry left out is not mirrored, and not invalid: a notice, and the plan passes.
    expect(run.code, run.stderr).toBe(0);
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([{ file: 'ghcr.io/a/b/Dockerfile', message: 'not mirrored: registry ghcr.io is not in the allowed registries (docker.io)' }]);
  });
});

describe('usage errors exit 2 and say what is wrong', () => {
  it.each([
    [['plan', '--images', '/nonexistent/dir'], '--images: "/nonexistent/dir" is not a directory'],
    [['plan', '--images', '.', '--bogus'], "unknown option '--bogus'"],
    [['sync', '--images', '.'], "required option '--target <registry[/prefix]>' not specified"],
    [['sync', '--images', '.', '--target', 'r.example.com', '--concurrency', '0'], '--concurrency must be a whole number from 1 to 64, got "0"'],
    [['sync', '--images', '.', '--target', 'r.example.com', '--concurrency', '65'], '--concurrency must be a whole number from 1 to 64, got "65"'],
    [['sync', '--images', '.', '--target', 'r.example.com', '--concurrency', '1e3'], '--concurrency must be a whole number from 1 to 64, got "1e3"'],
    // Node's timers hold at most 2^31-1 ms: 2147484 s used to fire at once and kill every copy after 1 ms.
    [['sync', '--images', '.', '--target', 'r.example.com', '--timeout', '2147484'], '--timeout must be a whole number from 1 to 86400, got "2147484"'],
    [['sync', '--images', '.', '--target', 'r.example.com', '--timeout', '86401'], '--timeout must be a whole number from 1 to 86400, got "86401"'],
    [['sync', '--images', '.', '--target', 'r.example.com', '--platform', 'linux'], '--platform: invalid platform "linux"'],
    [['sync', '--images', '.', '--target', 'R_X'], 'invalid target "R_X"'],
    [['plan', '--images', '.', '--name-template', '{registry}'], 'it must contain {repository}'],
    [['plan', '--images', '.', '--allow-registry', 'not a host'], '--allow-registry: "not a host" is not a registry host'],
    [['sync', '--images', '.', '--target', 'r.example.com', '--credentials', '/nonexistent.json'], '--credentials: cannot read "/nonexistent.json": ENOENT'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['orphans', '--images', '.'], "required option '--target <registry[/prefix]>' not specified"],
    [['orphans', '--images', '.', '--target', 'r.example.com/mirror'], '--target: "r.example.com/mirror" is not an ECR registry (*.dkr.ecr.<region>.amazonaws.com)'],
    [['orphans', '--images', '.', '--target', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/m', '--format', 'markdown'], "argument 'markdown' is invalid"],
    [['orphans', '--images', '/nonexistent/dir', '--target', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/m'], '--images: "/nonexistent/dir" is not a directory'],
  ])('%j', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it('refuses a credentials file without printing its secrets', async () => {
    const dir = await writeImagesTree({ 'creds.json': '{"docker.io": {"username": "me", "password": ""}, "quay.io": {"username": "q", "password": "s3cret-value", "x": 1}, "bad host!": {}}' });
    const run = await runCli(['sync', '--images', dir, '--target', 'r.example.com', '--credentials', `${dir}/creds.json`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('"docker.io" needs non-empty string fields "username" and "password"');
    expect(run.stderr).toContain('"bad host!" is not a registry host');
    expect(run.stderr).not.toContain('s3cret-value');
  });

  it('shows help with exit 0', async () => {
    const run = await runCli(['sync', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--platform <os/arch>');
  });
});

describe('mirror orphans', () => {
  it('shows help with an example and the exit codes', async () => {
    const run = await runCli(['orphans', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('mirror orphans --images images/ --target 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');
    expect(run.stdout).toContain('Exit codes: 0 no orphans, 1 orphans found, 2 usage or setup error');
  });
});

describe('the mirror command as a process (bin.ts)', () => {
  it('exits with the code main returns and writes on the process streams', async () => {
    const dir = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n', 'quay.io/bad/Dockerfile': 'FROM\n' });
    const run = await runBin(['plan', '--images', dir, '--json']);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as Report).summary).toMatchObject({ planned: 1, invalid: 1 });
    const usage = await runBin(['frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown command 'frobnicate'");
  });
});
