import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { DiffReport } from '../../shared/plan/diff-report.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

describe('mirror plan --base against the local source registry', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const ns = uniqueName('diff');
  // The images are named through a proxy that counts every request reaching the source registry.
  let watched: FaultProxy;
  let src = '';
  let dir = '';
  const digests: Record<string, string> = {};
  let base = '';
  let next = '';
  let credentials = '';

  beforeAll(async () => {
    watched = await watchSource();
    src = `${watched.host}/${ns}`;
    dir = `${watched.host}/${ns}`;
    digests.twoOld = (await pushIndex(source, `${ns}/two`, '0', ['linux/amd64', 'linux/arm64'])).index.digest;
    digests.two = (await pushIndex(source, `${ns}/two`, '1', ['linux/amd64', 'linux/arm64'], { format: 'docker' })).index.digest;
    digests.three = (await pushIndex(source, `${ns}/three`, '2', ['linux/amd64', 'linux/arm64', 'linux/arm/v7'])).index.digest;
    digests.single = (await pushImage(source, `${ns}/single`, '1')).digest;
    digests.same = (await pushImage(source, `${ns}/same`, '1')).digest;
    digests.gone = (await pushImage(source, `${ns}/gone`, '1')).digest;
    base = await writeImagesTree({
      [`${dir}/two/Dockerfile`]: `FROM ${src}/two:0\n`,
      [`${dir}/same/Dockerfile`]: `FROM ${src}/same:1\n`,
      [`${dir}/gone/Dockerfile`]: `FROM ${src}/gone:1\n`,
    });
    next = await writeImagesTree({
      [`${dir}/two/Dockerfile`]: `FROM ${src}/two:1\n`,
      [`${dir}/same/Dockerfile`]: `FROM ${src}/same:1\n`,
      [`${dir}/three/Dockerfile`]: `FROM ${src}/three:2\n`,
      [`${dir}/single/Dockerfile`]: `FROM ${src}/single:1\n`,
      [`${dir}/same-again/Dockerfile`]: `FROM ${src}/same:1 AS base\nRUN true\n`,
      [`${dir}/missing/Dockerfile`]: `FROM ${src}/missing:1\n`,
      [`${dir}/broken/Dockerfile`]: `FROM ${src}/broken:\${UNDECLARED}\n`,
    });
    credentials = join(next, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(() => watched?.close());

  it('lists added, changed, removed and invalid, with platforms and pull costs, spending one GET per image looked up', async () => {
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as DiffReport;
    const short = (name: string) => name.replace(`${src}/`, '');

    expect(report.changed.map((e) => ({ ...e, source: short(e.source), previous: short(e.previous ?? '') }))).toEqual([
      {
        source: 'two:1',
        previous: 'two:0',
        target: null,
        files: [`${dir}/two/Dockerfile`],
        namedElsewhere: false,
        dockerHub: false,
        digest: digests.two,
        index: true,
        platforms: ['linux/amd64', 'linux/arm64'],
        manifestGets: 3,
        pulls: 2,
        error: null,
      },
    ]);
    const added = Object.fromEntries(report.added.map((e) => [short(e.source), e]));
    expect(Object.keys(added).sort()).toEqual(['missing:1', 'same:1', 'single:1', 'three:2']);
    expect(added['three:2']).toMatchObject({ digest: digests.three, index: true, platforms: ['linux/amd64', 'linux/arm/v7', 'linux/arm64'], manifestGets: 4, pulls: 3 });
    expect(added['single:1']).toMatchObject({ digest: digests.single, index: false, platforms: [], manifestGets: 1, pulls: 1 });
    expect(added['same:1']).toMatchObject({ files: [`${dir}/same-again/Dockerfile`], namedElsewhere: true, manifestGets: 0, pulls: 0, digest: null });
    expect(added['missing:1']).toMatchObject({ manifestGets: null, pulls: null, error: `looking up "${src}/missing:1": no such image (404)` });
    expect(report.removed.map((e) => short(e.source))).toEqual(['gone:1']);
    expect(report.invalid).toEqual([{ file: `${dir}/broken/Dockerfile`, message: 'line 1: ARG UNDECLARED is not declared before the first FROM' }]);
    expect(report.summary).toEqual({
      added: 4,
      changed: 1,
      removed: 1,
      unchanged: 1,
      invalid: 1,
      costComplete: false,
      manifestGets: 3 + 4 + 1,
      pulls: 2 + 3 + 1,
      dockerHubPulls: 0,
      lookupGets: 4,
      dockerHubLookupGets: 0,
      missing: 1,
    });

    // The lookup itself: one manifest GET per image it reports, not one more, and no HEAD.
    const requests = watched.log.slice(mark);
    expect(manifestRequests(requests, ns, 'GET').map((r) => r.path.replace(`/v2/${ns}/`, '')).sort()).toEqual(['missing/manifests/1', 'single/manifests/1', 'three/manifests/2', 'two/manifests/1']);
    expect(manifestRequests(requests, ns, 'HEAD')).toEqual([]);
  });

  it('asks the registry nothing with --no-cost', async () => {
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json', '--no-cost']);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.summary).toMatchObject({ added: 4, changed: 1, removed: 1, lookupGets: 0, manifestGets: 0 });
    expect(report.changed[0]).toMatchObject({ platforms: null, pulls: null });
    expect(watched.log.slice(mark).filter((r) => r.path.startsWith(`/v2/${ns}/`))).toEqual([]);
  });

  it('shows the platforms and costs in the pull-request comment', async () => {
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'markdown']);
    expect(run.stdout).toContain(`| \`${src}/three:2\` | linux/amd64, linux/arm/v7, linux/arm64 | 4 | 3 | \`${dir}/three/Dockerfile\` |`);
    expect(run.stdout).toContain(`| \`${src}/two:1\` | \`${src}/two:0\` | linux/amd64, linux/arm64 | 3 | 2 | \`${dir}/two/Dockerfile\` |`);
    expect(run.stdout).toContain(`| \`${src}/missing:1\` | ⚠️ not found | – | – |`);
    expect(run.stdout).toContain('Syncing this costs the sources **8** manifest GETs and **6** pulls at least (some costs are unknown).');
    expect(run.stdout).toContain('Looking the platforms up took 4 manifest GETs.');
  });

  it('predicts the manifest GETs a real sync then spends on the source', async () => {
    const target = `${s.targetRegistry}/mirror-${ns}`;
    const sync = (images: string) => runCli(['sync', '--images', images, '--target', target, '--credentials', credentials, '--json', '--quiet'], { CRANE: s.crane });
    const first = await sync(base);
    expect(first.code, first.stderr).toBe(0);

    const predicted = JSON.parse((await runCli(['plan', '--images', next, '--base', base, '--format', 'json'])).stdout) as DiffReport;
    const mark = watched.log.length;
    const second = await sync(next);
    const results = (JSON.parse(second.stdout) as Report).results;
    expect(results.filter((r) => r.status === 'copied').map((r) => r.source.replace(`${src}/`, '')).sort()).toEqual(['single:1', 'three:2', 'two:1']);
    expect(results.filter((r) => r.status === 'failed').map((r) => r.source.replace(`${src}/`, ''))).toEqual(['missing:1']);
    const gets = manifestRequests(watched.log.slice(mark), ns, 'GET');
    expect(gets).toHaveLength(predicted.summary.manifestGets);
  });
});
