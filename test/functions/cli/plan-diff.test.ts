import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DiffReport } from '../../../shared/plan/diff-report.ts';
import type { Report } from '../../../shared/plan/report.ts';
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
    // --target gives each added and changed image its target; no digest is known without the lookups.
    expect(run.stdout).toContain('| image | was | target | digest | platforms | pulls | files |\n| --- | --- | --- | --- | --- | ---: | --- |\n');
    expect(run.stdout).toContain(
      '| `docker.io/library/postgres:14.13` | `docker.io/library/postgres:14` | `r.example.com/mirror/docker.io/library/postgres:14.13` | – | – | – | `docker.io/library/postgres/Dockerfile` |',
    );
    expect(run.stdout).toContain('| `ghcr.io/hadolint/hadolint:v2.12.0` | `r.example.com/mirror/ghcr.io/hadolint/hadolint:v2.12.0` | – | – | – | `ghcr.io/hadolint/hadolint/Dockerfile` |');
    expect(run.stdout).toContain('| `docker.io/library/old:1` | no longer synced | `docker.io/library/old/Dockerfile` |');
    expect(run.stdout).toMatch(/<details open><summary><b>Introduced by this change: 1 invalid file<\/b>: nothing is mirrored from it, and the check fails<\/summary>\n\n\| file \| error \|/);
    expect(run.stdout).not.toContain('Already broken on');
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
    const next = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n', 'docker.io/bad/nested/Dockerfile': nested, 'docker.io/bad/new/Dockerfile': nested });
    const run = await runCli(['plan', '--images', next, '--base', base, '--json', '--no-cost']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.changed.map((e) => `${e.previous} -> ${e.source}`)).toEqual(['docker.io/library/redis:7 -> docker.io/library/redis:7.2']);
    // The file broken the same way on the base is not this change's; the new one is.
    expect(report.invalid.map((issue) => issue.file)).toEqual(['docker.io/bad/new/Dockerfile']);
    expect(report.alreadyBroken.map((issue) => issue.file)).toEqual(['docker.io/bad/nested/Dockerfile']);
    expect(report.invalid[0]?.message).toContain('is nested more than 16 deep');
  });

  it('passes a change that leaves a file already broken on the base as it was, and shows that file apart', async () => {
    const broken = await makeGitRepo();
    await writeFiles(broken, { 'images/docker.io/library/old/Dockerfile': 'FROM Old\n', 'images/docker.io/library/redis/Dockerfile': 'FROM redis:7\n' }, 'base');
    await writeFiles(broken, { 'images/docker.io/library/redis/Dockerfile': 'FROM redis:7.2\n' });
    const images = join(broken, 'images');
    const json = await runCli(['plan', '--images', images, '--base', 'main', '--json', '--no-cost']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as DiffReport;
    expect([report.invalid, report.alreadyBroken.map((issue) => issue.file)]).toEqual([[], ['docker.io/library/old/Dockerfile']]);
    expect(report.summary).toMatchObject({ invalid: 0, alreadyBroken: 1, changed: 1 });
    const markdown = await runCli(['plan', '--images', images, '--base', 'main', '--format', 'markdown', '--no-cost']);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain("<details><summary>Already broken on <code>main</code> (not this change's): 1 invalid file, which fail nothing here</summary>");
    expect(markdown.stdout).not.toContain('Introduced by this change');

    // The same file, now broken in another way by the change: the change's to fix.
    await writeFiles(broken, { 'images/docker.io/library/old/Dockerfile': 'FROM Older\n' });
    const worse = await runCli(['plan', '--images', images, '--base', 'main', '--json', '--no-cost']);
    expect(worse.code, worse.stderr).toBe(1);
    expect((JSON.parse(worse.stdout) as DiffReport).invalid.map((issue) => issue.file)).toEqual(['docker.io/library/old/Dockerfile']);
  });

  it('fails a change that bumps an image in a file already broken on the base: the bump is not mirrored', async () => {
    const repo = await makeGitRepo();
    const postgres = 'images/docker.io/library/postgres/Dockerfile';
    await writeFiles(repo, { [postgres]: 'FROM postgres:14\nFROM ${NOPE}\n', 'images/docker.io/library/old/Dockerfile': 'FROM Old\n' }, 'base');
    await writeFiles(repo, { [postgres]: 'FROM postgres:16\nFROM ${NOPE}\n' });
    const images = join(repo, 'images');
    const json = await runCli(['plan', '--images', images, '--base', 'main', '--json', '--no-cost']);
    expect(json.code, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as DiffReport;
    // The edited file is the change's, broken as it was before; the file the change left alone is still the base's.
    expect(report.invalid.map((issue) => issue.file)).toEqual(['docker.io/library/postgres/Dockerfile']);
    expect(report.alreadyBroken.map((issue) => issue.file)).toEqual(['docker.io/library/old/Dockerfile']);
    expect(report.summary).toMatchObject({ invalid: 1, alreadyBroken: 1, added: 0, changed: 0 });
    const text = await runCli(['plan', '--images', images, '--base', 'main', '--no-cost']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('\nInvalid files introduced by this change (nothing mirrored from them; the check fails):\n  docker.io/library/postgres/Dockerfile: line 2:');
    expect(text.stdout).toContain("\nAlready broken on main (not this change's; nothing mirrored from them, the check does not fail for them):\n  docker.io/library/old/Dockerfile: ");
  });

  it('fails a change that makes two files collide on one target name, with no --target given', async () => {
    const pinned = `sha256:${'a'.repeat(64)}`;
    const base = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n' });
    const next = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n', 'docker.io/library/postgres-pinned/Dockerfile': `FROM postgres:14@${pinned}\n` });
    const run = await runCli(['plan', '--images', next, '--base', base, '--json', '--no-cost']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.invalid.map((issue) => issue.file)).toEqual(['docker.io/library/postgres-pinned/Dockerfile', 'docker.io/library/postgres/Dockerfile']);
    expect(report.invalid[0]?.message).toContain('would both be mirrored to "<target>/docker.io/library/postgres:14"');
  });

  it('leaves the registries outside --allow-registry out with a notice, counted apart, and passes', async () => {
    const base = await writeImagesTree({});
    const next = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n', 'quay.io/a/b/Dockerfile': 'FROM quay.io/a/b:1\n' });
    const run = await runCli(['plan', '--images', next, '--base', base, '--json', '--no-cost', '--allow-registry', 'quay.io']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.added.map((e) => e.source)).toEqual(['quay.io/a/b:1']);
    expect(report.invalid).toEqual([]);
    expect(report.warnings).toEqual([{ file: 'docker.io/library/redis/Dockerfile', message: 'not mirrored: registry docker.io is not in the allowed registries (quay.io)' }]);
    expect(report.summary).toMatchObject({ invalid: 0, notMirrored: 1 });
  });
});

describe('mirror plan without --target', () => {
  it('exits 1 for two files whose images would land on one target name, naming it under a placeholder', async () => {
    const pinned = `sha256:${'b'.repeat(64)}`;
    const images = await writeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      'docker.io/library/postgres-pinned/Dockerfile': `FROM postgres:14@${pinned}\n`,
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
    });
    const run = await runCli(['plan', '--images', images, '--json']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => [r.source, r.target])).toEqual([['docker.io/library/redis:7', null]]);
    expect(report.errors.map((e) => e.file)).toEqual(['docker.io/library/postgres-pinned/Dockerfile', 'docker.io/library/postgres/Dockerfile']);
    expect(report.errors[0]?.message).toBe(
      `"docker.io/library/postgres:14@${pinned}" and "docker.io/library/postgres:14" would both be mirrored to "<target>/docker.io/library/postgres:14": rename one with --name-template or pin them apart`,
    );
  });

  it('leaves the registries outside --allow-registry out with a notice each, counted apart, and exits 0', async () => {
    const images = await writeImagesTree({ 'docker.io/library/redis/Dockerfile': 'FROM redis:7\n', 'quay.io/a/b/Dockerfile': 'FROM quay.io/a/b:1\n' });
    const text = await runCli(['plan', '--images', images, '--allow-registry', 'quay.io']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('docker.io/library/redis/Dockerfile: not mirrored: registry docker.io is not in the allowed registries (quay.io)');
    expect(text.stdout).toContain('1 image planned; 0 invalid files; 1 file not mirrored (registry not allowed)');
    const json = JSON.parse((await runCli(['plan', '--images', images, '--allow-registry', 'quay.io', '--json'])).stdout) as Report;
    expect(json.summary).toMatchObject({ planned: 1, invalid: 0, notMirrored: 1 });
  });

  it('exits 0 for the same tree once the two are apart', async () => {
    const images = await writeImagesTree({ 'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n', 'docker.io/library/postgres-16/Dockerfile': 'FROM postgres:16\n' });
    const run = await runCli(['plan', '--images', images, '--json']);
    expect(run.code, run.stderr).toBe(0);
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
