import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';

const target = parseTargetBase('registry.example.com/mirror');
const entry = (path: string, text: string): DockerfileEntry => ({ path, text });
const summary = (entries: DockerfileEntry[], options = {}) => {
  const plan = buildPlan(entries, { target, ...options });
  return {
    jobs: plan.jobs.map((job) => `${formatReference(job.source)} -> ${job.target ? formatReference(job.target) : '-'} [${job.files.join(', ')}]`),
    errors: plan.errors.map((e) => `${e.file}: ${e.message}`),
    warnings: plan.warnings.map((w) => `${w.file}: ${w.message}`),
  };
};

describe('buildPlan', () => {
  it('makes one job per image with its target', () => {
    expect(summary([entry('docker.io/library/postgres/Dockerfile', 'FROM postgres:14'), entry('quay.io/prometheus/node-exporter/Dockerfile', 'FROM quay.io/prometheus/node-exporter:v1.8.2')])).toEqual({
      jobs: [
        'docker.io/library/postgres:14 -> registry.example.com/mirror/docker.io/library/postgres:14 [docker.io/library/postgres/Dockerfile]',
        'quay.io/prometheus/node-exporter:v1.8.2 -> registry.example.com/mirror/quay.io/prometheus/node-exporter:v1.8.2 [quay.io/prometheus/node-exporter/Dockerfile]',
      ],
      errors: [],
      warnings: [],
    });
  });

  it('keeps valid files going when others are broken', () => {
    const result = summary([
      entry('docker.io/library/postgres/Dockerfile', 'FROM postgres:14'),
      entry('docker.io/library/broken/Dockerfile', 'FROM Broken:1'),
      entry('docker.io/library/empty/Dockerfile', ''),
      { path: 'docker.io/library/unreadable/Dockerfile', readError: 'EACCES: permission denied' },
      entry('docker.io/library/redis/Dockerfile', 'FROM redis:7'),
    ]);
    expect(result.jobs).toHaveLength(2);
    expect(result.errors).toEqual([
      'docker.io/library/broken/Dockerfile: line 1: invalid image reference "Broken:1": repository "library/Broken" must be lowercase',
      'docker.io/library/empty/Dockerfile: file is empty: it names no image to mirror',
      'docker.io/library/unreadable/Dockerfile: reading the file: EACCES: permission denied',
    ]);
  });

  it('merges files naming the same image into one job', () => {
    const result = summary([entry('a/x/Dockerfile', 'FROM alpine:3.20'), entry('b/y/Dockerfile', 'FROM docker.io/library/alpine:3.20')]);
    expect(result.jobs).toEqual(['docker.io/library/alpine:3.20 -> registry.example.com/mirror/docker.io/library/alpine:3.20 [a/x/Dockerfile, b/y/Dockerfile]']);
  });

  it('refuses two sources that would land on one target tag', () => {
    const result = summary([entry('docker.io/library/app/Dockerfile', 'FROM app:1'), entry('quay.io/library/app/Dockerfile', 'FROM quay.io/library/app:1'), entry('docker.io/library/ok/Dockerfile', 'FROM ok:1')], {
      nameTemplate: '{repository}',
    });
    expect(result.jobs).toEqual(['docker.io/library/ok:1 -> registry.example.com/mirror/library/ok:1 [docker.io/library/ok/Dockerfile]']);
    expect(result.errors).toEqual([
      'docker.io/library/app/Dockerfile: "docker.io/library/app:1" and "quay.io/library/app:1" would both be mirrored to "registry.example.com/mirror/library/app:1": rename one with --name-template or pin them apart',
      'quay.io/library/app/Dockerfile: "docker.io/library/app:1" and "quay.io/library/app:1" would both be mirrored to "registry.example.com/mirror/library/app:1": rename one with --name-template or pin them apart',
    ]);
  });

  it('refuses a tag pinned to two different digests', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    const result = summary([entry('one/Dockerfile', `FROM postgres:14@${a}`), entry('two/Dockerfile', `FROM postgres:14@${b}`)]);
    expect(result.jobs).toEqual([]);
    expect(result.errors).toHaveLength(2);
  });

  it('warns when the path disagrees with FROM, and still plans it', () => {
    const result = summary([entry('docker.io/library/postgres/Dockerfile', 'FROM mysql:8'), entry('docker.io/postgres/Dockerfile', 'FROM postgres:14')]);
    expect(result.jobs).toHaveLength(2);
    expect(result.warnings).toEqual(['docker.io/library/postgres/Dockerfile: directory says "docker.io/library/postgres" but FROM names "docker.io/library/mysql"']);
  });

  it('accepts a directory spelling the registry port as target names do', () => {
    expect(summary([entry('localhost-5000/team/app/Dockerfile', 'FROM localhost:5000/team/app:1')]).warnings).toEqual([]);
    expect(summary([entry('localhost-5000/team/other/Dockerfile', 'FROM localhost:5000/team/app:1')]).warnings).toHaveLength(1);
  });

  it('leaves registries outside the allow-list out with one notice per file, not as invalid files', () => {
    const entries = [
      entry('docker.io/library/postgres/Dockerfile', 'FROM postgres:14'),
      entry('ghcr.io/a/b/Dockerfile', 'FROM ghcr.io/a/b:1'),
      entry('ghcr.io/a/c/Dockerfile', 'FROM ghcr.io/a/c:1 AS one\nFROM ghcr.io/a/c:2 AS two\nFROM gcr.io/x/c:3'),
    ];
    const plan = buildPlan(entries, { target, allowRegistries: ['index.docker.io', 'quay.io'] });
    expect(plan.jobs.map((job) => formatReference(job.source))).toEqual(['docker.io/library/postgres:14']);
    expect(plan.errors).toEqual([]);
    expect(plan.warnings).toEqual([
      { file: 'ghcr.io/a/b/Dockerfile', message: 'not mirrored: registry ghcr.io is not in the allowed registries (docker.io, quay.io)' },
      { file: 'ghcr.io/a/c/Dockerfile', message: 'not mirrored: registries ghcr.io, gcr.io are not in the allowed registries (docker.io, quay.io)' },
    ]);
    expect(plan.notMirrored).toEqual(['ghcr.io/a/b/Dockerfile', 'ghcr.io/a/c/Dockerfile']);
  });

  it('mirrors the allowed images of a file that also names another registry', () => {
    const plan = buildPlan([entry('quay.io/a/app/Dockerfile', 'FROM golang:1.23 AS build\nFROM quay.io/a/app:1')], { target, allowRegistries: ['quay.io'] });
    expect(plan.jobs.map((job) => formatReference(job.source))).toEqual(['quay.io/a/app:1']);
    expect(plan.warnings).toEqual([{ file: 'quay.io/a/app/Dockerfile', message: 'not mirrored: registry docker.io is not in the allowed registries (quay.io)' }]);
    expect(plan.errors).toEqual([]);
  });

  it('checks nothing against an empty allow-list', () => {
    const plan = buildPlan([entry('ghcr.io/a/b/Dockerfile', 'FROM ghcr.io/a/b:1')], { target, allowRegistries: [] });
    expect([plan.jobs.length, plan.warnings, plan.notMirrored]).toEqual([1, [], []]);
  });

  it('reports a target name that breaks ECR rules for that file only', () => {
    const result = summary([entry('docker.io/a/b__c/Dockerfile', 'FROM a/b__c:1'), entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(result.jobs).toHaveLength(1);
    expect(result.errors[0]).toContain('breaks ECR naming rules');
  });

  it('names at most three sources of a collision, and counts the others', () => {
    const colliding = (n: number) => Array.from({ length: n }, (_, i) => entry(`r${i}.example/app/Dockerfile`, `FROM r${i}.example/app:1`));
    const options = { nameTemplate: '{repository}' };
    expect(summary(colliding(3), options).errors[0]).toBe(
      'r0.example/app/Dockerfile: 3 sources would all be mirrored to "registry.example.com/mirror/app:1" ("r0.example/app:1", "r1.example/app:1" and "r2.example/app:1"): rename them with --name-template or pin them apart',
    );
    const five = summary(colliding(5), options);
    expect(five.jobs).toEqual([]);
    expect(five.errors).toHaveLength(5);
    expect(five.errors[4]).toBe(
      'r4.example/app/Dockerfile: 5 sources would all be mirrored to "registry.example.com/mirror/app:1" ("r0.example/app:1", "r1.example/app:1", "r2.example/app:1" and 2 more): rename them with --name-template or pin them apart',
    );
  });

  it('gives each of 4,000 colliding files one short error', () => {
    const entries = Array.from({ length: 4000 }, (_, i) => entry(`r${i}.example/app/Dockerfile`, `FROM r${i}.example/app:1`));
    const plan = buildPlan(entries, { target, nameTemplate: '{repository}' });
    expect(plan.jobs).toEqual([]);
    expect(new Set(plan.errors.map((e) => e.file)).size).toBe(4000);
    expect(plan.errors).toHaveLength(4000);
    expect(Math.max(...plan.errors.map((e) => e.message.length))).toBeLessThan(400);
    expect(JSON.stringify(plan.errors).length).toBeLessThan(2_000_000);
    expect(plan.errors[0]?.message).toContain('4000 sources would all be mirrored to "registry.example.com/mirror/app:1"');
    expect(plan.errors[0]?.message).toContain('and 3997 more');
  });

  it('turns a warning entry into a warning, with no job and no error', () => {
    const message = 'it is a symbolic link to a directory, which is not followed: no Dockerfile below it is mirrored';
    const plan = buildPlan([{ path: 'docker.io/linked', warning: message }, entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')], { target });
    expect(plan.warnings).toEqual([{ file: 'docker.io/linked', message }]);
    expect(plan.errors).toEqual([]);
    expect(plan.jobs.map((job) => job.files)).toEqual([['docker.io/library/redis/Dockerfile']]);
  });

  it('says a directory that could not be read is a directory', () => {
    expect(summary([{ path: 'docker.io/private/', readError: 'EACCES: permission denied' }]).errors).toEqual(['docker.io/private/: reading the directory: EACCES: permission denied']);
  });

  it('reports a hostile file as that file\'s error and plans the others', () => {
    const hostile = `FROM x:${'${A:-'.repeat(4000)}y${'}'.repeat(4000)}`;
    const result = summary([entry('docker.io/bad/nested/Dockerfile', hostile), entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(result.jobs).toHaveLength(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toContain('docker.io/bad/nested/Dockerfile: line 1: "${…}" is nested more than 16 deep');
  });

  it('plans without a target', () => {
    const plan = buildPlan([entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(plan.jobs[0]?.target).toBeUndefined();
  });

  it('refuses a tag and the same tag pinned by digest without a target, naming the target under a placeholder', () => {
    const pinned = `sha256:${'a'.repeat(64)}`;
    const plan = buildPlan([entry('one/Dockerfile', 'FROM postgres:14'), entry('two/Dockerfile', `FROM postgres:14@${pinned}`), entry('redis/Dockerfile', 'FROM redis:7')]);
    expect(plan.jobs.map((job) => [formatReference(job.source), job.target])).toEqual([['docker.io/library/redis:7', undefined]]);
    const message = `"docker.io/library/postgres:14" and "docker.io/library/postgres:14@${pinned}" would both be mirrored to "<target>/docker.io/library/postgres:14": rename one with --name-template or pin them apart`;
    expect(plan.errors).toEqual([
      { file: 'one/Dockerfile', message },
      { file: 'two/Dockerfile', message },
    ]);
  });

  it('checks collisions under the name template without a target', () => {
    const result = buildPlan([entry('a/Dockerfile', 'FROM app:1'), entry('b/Dockerfile', 'FROM quay.io/library/app:1')], { nameTemplate: '{repository}' });
    expect(result.jobs).toEqual([]);
    expect(result.errors.map((e) => e.message)).toEqual([
      '"docker.io/library/app:1" and "quay.io/library/app:1" would both be mirrored to "<target>/library/app:1": rename one with --name-template or pin them apart',
      '"docker.io/library/app:1" and "quay.io/library/app:1" would both be mirrored to "<target>/library/app:1": rename one with --name-template or pin them apart',
    ]);
    // The default template keeps the registry: the two land apart and both plan.
    expect(buildPlan([entry('a/Dockerfile', 'FROM app:1'), entry('b/Dockerfile', 'FROM quay.io/library/app:1')]).jobs).toHaveLength(2);
  });

  it('reports a name the target would refuse without a target too, as the sync would', () => {
    const plan = buildPlan([entry('docker.io/a/b__c/Dockerfile', 'FROM a/b__c:1'), entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(plan.jobs).toHaveLength(1);
    expect(plan.errors).toEqual([{ file: 'docker.io/a/b__c/Dockerfile', message: 'target repository "docker.io/a/b__c" breaks ECR naming rules (lowercase components of a-z, 0-9 and single ".", "_" or "-" separators)' }]);
  });
});

describe('buildPlan when planning a file throws what no bound foresaw', () => {
  const BASE_IMAGES = '../../../shared/dockerfile/base-images.ts';

  afterEach(() => {
    vi.doUnmock(BASE_IMAGES);
    vi.resetModules();
  });

  it('makes it that file\'s error, escaped, and plans the others', async () => {
    vi.resetModules();
    vi.doMock(BASE_IMAGES, async (importOriginal) => {
      const actual = await importOriginal<typeof import('../../../shared/dockerfile/base-images.ts')>();
      const baseImagesOf = (text: string) => {
        if (text.startsWith('# boom')) throw new RangeError('Maximum call stack size exceeded\n::error::forged');
        return actual.baseImagesOf(text);
      };
      return { ...actual, baseImagesOf };
    });
    const { buildPlan: plan } = await import('../../../shared/plan/plan.ts');
    const result = plan([entry('docker.io/bad/boom/Dockerfile', '# boom\nFROM x:1'), entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(result.jobs.map((job) => job.files)).toEqual([['docker.io/library/redis/Dockerfile']]);
    expect(result.errors).toEqual([{ file: 'docker.io/bad/boom/Dockerfile', message: 'it could not be planned: Maximum call stack size exceeded\\n::error::forged' }]);
  });
});
