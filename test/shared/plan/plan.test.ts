import { describe, expect, it } from 'vitest';
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

  it('refuses registries outside the allow-list, naming them', () => {
    const result = summary([entry('docker.io/library/postgres/Dockerfile', 'FROM postgres:14'), entry('ghcr.io/a/b/Dockerfile', 'FROM ghcr.io/a/b:1')], { allowRegistries: ['index.docker.io', 'quay.io'] });
    expect(result.jobs).toHaveLength(1);
    expect(result.errors).toEqual(['ghcr.io/a/b/Dockerfile: registry "ghcr.io" of "ghcr.io/a/b:1" is not allowed (allowed: docker.io, quay.io)']);
  });

  it('reports a target name that breaks ECR rules for that file only', () => {
    const result = summary([entry('docker.io/a/b__c/Dockerfile', 'FROM a/b__c:1'), entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(result.jobs).toHaveLength(1);
    expect(result.errors[0]).toContain('breaks ECR naming rules');
  });

  it('plans without a target', () => {
    const plan = buildPlan([entry('docker.io/library/redis/Dockerfile', 'FROM redis:7')]);
    expect(plan.jobs[0]?.target).toBeUndefined();
  });
});
