import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { COLLIDING_CASES, HOSTILE_CASES } from '../../fixtures/hostile-dockerfiles.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';

// What LocalDockerfileSource would hand the plan for each file (size limit included).
const entryOf = (path: string, content: string | Buffer): DockerfileEntry => {
  const bytes = Buffer.from(content);
  return bytes.length > MAX_DOCKERFILE_BYTES ? { path, readError: `it is ${bytes.length} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed` } : { path, text: bytes.toString('utf8') };
};

describe('the plan against a corpus of hostile Dockerfiles', () => {
  const valid = [
    { path: 'docker.io/library/alpine/Dockerfile', content: 'FROM alpine:3.20\n' },
    { path: 'quay.io/prometheus/node-exporter/Dockerfile', content: 'FROM quay.io/prometheus/node-exporter:v1.8.2\n' },
    { path: 'docker.io/library/redis/Dockerfile', content: 'FROM index.docker.io/library/redis:7.2\n' },
  ];
  const cases = [...HOSTILE_CASES, ...COLLIDING_CASES];
  const plan = buildPlan([...cases, ...valid].map((c) => entryOf(c.path, c.content)), {
    target: parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror'),
    allowRegistries: ['docker.io', 'quay.io'],
  });

  it('holds at least 40 cases', () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('refuses $name with an error naming the file and the problem', ({ path, error }) => {
    const issues = plan.errors.filter((e) => e.file === path);
    expect(issues, `no error for ${path}`).toHaveLength(1);
    expect(issues[0]?.message).toContain(error);
  });

  it('still plans every valid file, and nothing else', () => {
    expect(plan.jobs.map((job) => job.files)).toEqual([['docker.io/library/alpine/Dockerfile'], ['docker.io/library/redis/Dockerfile'], ['quay.io/prometheus/node-exporter/Dockerfile']]);
  });
});
