import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DiffReport } from '../../../shared/plan/diff-report.ts';
import { runCli, writeImagesTree } from '../../support/cli.ts';
import { makeGitRepo, writeFiles } from '../../support/git.ts';

// Base and pull-request trees, as a bot's tag bump plus a person's edits would leave them.
const BASE = {
  'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
  'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
  'quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.1\n',
  'docker.io/library/old/Dockerfile': 'FROM old:1\n',
};
const NEXT = {
  'docker.io/library/postgres/Dockerfile': 'FROM postgres:14.13\n',
  'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
  'quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
  'ghcr.io/hadolint/hadolint/Dockerfile': 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n',
  'docker.io/library/broken/Dockerfile': 'FROM Broken\n',
};

const prefix = <T>(files: Record<string, T>, dir: string) => Object.fromEntries(Object.entries(files).map(([path, text]) => [`${dir}/${path}`, text]));

describe('mirror plan --base', () => {
  let repo = '';
  let images = '';

  beforeAll(async () => {
    repo = await makeGitRepo();
    await writeFiles(repo, prefix(BASE, 'images'), 'base');
    const deleted = Object.fromEntries(Object.keys(BASE).map((path) => [path, null]));
    await writeFiles(repo, { ...prefix(deleted, 'images'), ...prefix(NEXT, 'images') });
    images = join(repo, 'images');
  });

  const expectTheChange = (report: DiffReport, base: string) => {
    expect(report.base).toBe(base);
    expect(report.added.map((e) => [e.source, e.files])).toEqual([['ghcr.io/hadolint/hadolint:v2.12.0', ['ghcr.io/hadolint/hadolint/Dockerfile']]]);
    expect(report.changed.map((e) => `${e.previous} -> ${e.source}`)).toEqual([
      'docker.io/library/postgres:14 -> docker.io/library/postgres:14.13',
      'quay.io/prometheus/node-exporter:v1.8.1 -> quay.io/prometheus/node-exporter:v1.8.2',
    ]);
    expect(report.removed.map((e) => e.source)).toEqual(['docker.io/library/old:1']);
    expect(report.invalid).toEqual([{ file: 'docker.io/library/broken/Dockerfile', message: 'line 1: invalid image reference "Broken": repository "library/Broken" must be lowercase' }]);
    expect(report.summary).toMatchObject({ added: 1, changed: 2, removed: 1, unchanged: 1, invalid: 1, lookupGets: 0 });
    expect(report.costLookedUp).toBe(false);
    expect([report.budgets, report.pullReserve]).toEqual([[], 20]);
  };

  it('compares the work tree with a git ref, as one JSON document, exiting 1 for the invalid file', async () => {
    const run = await runCli(['plan', '--images', images, '--base', 'HEAD', '--format', 'json', '--no-cost']);
    expect(run.code, run.stderr).toBe(1);
    expectTheChange(JSON.parse(run.stdout) as DiffReport, 'HEAD');
  });

  it('compares with a directory just the same', async () => {
    const base = await writeImagesTree(BASE);
    const run = await runCli(['plan', '--images', images, '--base', base, '--json', '--no-cost']);
    expect(run.code, run.stderr).toBe(1);
    expectTheChange(JSON.parse(run.stdout) as DiffReport, base);
  });

  it('prints a pull-request comment with --format markdown', async () => {
    const run = await runCli(['plan', '--images', images, '--base', 'HEAD', '--format', 'markdown', '--no-cost', '--target', 'r.example.com/mirror']);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').slice(0, 4)).toEqual([
      '<!-- image-mirror:plan -->',
      '### Images to mirror',
      '',
      'Compared with `HEAD`: **1** added, **2** changed, **1** removed, 1 unchanged, **1 invalid file**.',
    ]);
    expect(run.stdout).toContain('| image | was | platforms | pulls | files |\n| --- | --- | --- | ---: | --- |\n');
    expect(run.stdout).toContain('| `docker.io/library/postgres:14.13` | `docker.io/library/postgres:14` | – | – | `docker.io/library/postgres/Dockerfile` |');
    expect(run.stdout).toContain('| `ghcr.io/hadolint/hadolint:v2.12.0` | – | – | `ghcr.io/hadolint/hadolint/Dockerfile` |');
    expect(run.stdout).toContain('| `docker.io/library/old:1` | no longer synced | `docker.io/library/old/Dockerfile` |');
    expect(run.stdout).toMatch(/<details open><summary><b>1 invalid file<\/b>: nothing is mirrored from it<\/summary>\n\n\| file \| error \|/);
    // Nothing was looked up: no budget is made up, no lookup is told of.
    expect(run.stdout).toContain('\n\nThe sync cost was not looked up (--no-cost).\n\n');
    expect(run.stdout).toContain('\n\n<sub>A pull here is a manifest GET, as the sync counts them:');
    expect(run.stdout).not.toMatch(/per 6 h|reserve|Looking the costs up/);
  });

  it('prints the diff for people by default, exiting 0 when every file is valid', async () => {
    const clean = await makeGitRepo();
    await writeFiles(clean, { 'images/docker.io/library/redis/Dockerfile': 'FROM redis:7\n' }, 'base');
    await writeFiles(clean, { 'images/docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n' });
    const run = await runCli(['plan', '--images', join(clean, 'images'), '--base', 'main', '--no-cost']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Compared with main: 0 added, 1 changed, 0 removed, 0 unchanged; 0 invalid files');
    expect(run.stdout).toContain('docker.io/library/redis:7 -> docker.io/library/redis:7.2  (docker.io/library/redis/Dockerfile)');
  });

  it('keeps text from a Dockerfile from turning into markup in the comment', async () => {
    const base = await writeImagesTree({});
    const hostile = await writeImagesTree({ 'x/Dockerfile': 'FROM <img|src=x>@octocat\n' });
    const run = await runCli(['plan', '--images', hostile, '--base', base, '--format', 'markdown', '--no-cost']);
    const row = run.stdout.split('\n').find((line) => line.startsWith('| `x/Dockerfile` |')) ?? '';
    expect(row).toContain('&lt;img\\|src=x&gt;@\u200boctocat');
    expect(row).not.toMatch(/<img|[^\\]\|src/);
  });

  it('keeps a file name holding backticks inside its code span in the comment', async () => {
    const base = await writeImagesTree({});
    const hostile = await writeImagesTree({ 'x``[a](evil.example)``/Dockerfile': 'FROM alpine:3.20\n' });
    const run = await runCli(['plan', '--images', hostile, '--base', base, '--format', 'markdown', '--no-cost']);
    // Two backticks in the name: a fence of three, which nothing inside can close.
    expect(run.stdout).toContain('| ``` x``[a](evil.example)``/Dockerfile ``` |');
  });

  it('compares trees holding hostile files on both sides, each reported on its own file, the rest compared', async () => {
    // Each of these used to end the whole comparison with "mirror: Maximum call stack size exceeded" and no report.
    const nested = `ARG A\nFROM redis:${'${A:-'.repeat(4000)}7${'}'.repeat(4000)}\n`;
    const base = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n', 'docker.io/bad/nested/Dockerfile': nested });
    const next = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n', 'docker.io/bad/nested/Dockerfile': nested });
    const run = await runCli(['plan', '--images', next, '--base', base, '--json', '--no-cost']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.changed.map((e) => `${e.previous} -> ${e.source}`)).toEqual(['docker.io/library/redis:7 -> docker.io/library/redis:7.2']);
    expect(report.invalid.map((issue) => issue.file)).toEqual(['docker.io/bad/nested/Dockerfile']);
    expect(report.invalid[0]?.message).toContain('is nested more than 16 deep');
  });
});

describe('mirror plan --base usage errors exit 2', () => {
  it('says so when the ref names no commit of the repository holding the images', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'images/a/Dockerfile': 'FROM a:1\n' }, 'base');
    const run = await runCli(['plan', '--images', join(repo, 'images'), '--base', 'no-such-ref-or-dir']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--base: "no-such-ref-or-dir" is neither a directory nor a git ref: "no-such-ref-or-dir" names no commit in');
    expect(run.stdout).toBe('');
  });

  it.each([
    [['plan', '--images', '.', '--format', 'markdown'], '--format markdown needs --base'],
    [['plan', '--images', '.', '--base', '.', '--json', '--format', 'markdown'], '--json and --format markdown exclude each other'],
    [['plan', '--images', '.', '--credentials', 'c.json'], '--credentials needs --base'],
    [['plan', '--images', '.', '--format', 'yaml'], "argument 'yaml' is invalid. Allowed choices are text, markdown, json."],
  ])('%j', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it('says so when the images are not in a git repository', async () => {
    const images = await writeImagesTree({ 'a/Dockerfile': 'FROM a:1\n' });
    const run = await runCli(['plan', '--images', images, '--base', 'origin/main']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--base: "origin\/main" is neither a directory nor a git ref: ".*" is not inside a git work tree/);
  });
});
