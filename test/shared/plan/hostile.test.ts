import { beforeAll, describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { buildPlan, type Plan } from '../../../shared/plan/plan.ts';
import { LocalDockerfileSource } from '../../../shared/source/local-dir.ts';
import { COLLIDING_CASES, HOSTILE_CASES, OUTSIDE_ALLOW_LIST } from '../../fixtures/hostile-dockerfiles.ts';
import { writeImagesTree } from '../../support/cli.ts';

describe('the plan against a corpus of hostile Dockerfiles', () => {
  const valid = [
    { path: 'docker.io/library/alpine/Dockerfile', content: 'FROM alpine:3.20\n' },
    { path: 'quay.io/prometheus/node-exporter/Dockerfile', content: 'FROM quay.io/prometheus/node-exporter:v1.8.2\n' },
    { path: 'docker.io/library/redis/Dockerfile', content: 'FROM index.docker.io/library/redis:7.2\n' },
  ];
  const cases = [...HOSTILE_CASES, ...COLLIDING_CASES];
  let plan: Plan;

  // Written to disk and read back by the real source, so that its rules (the size cap among them) apply as in a sync.
  beforeAll(async () => {
    const dir = await writeImagesTree(Object.fromEntries([...cases, ...valid, OUTSIDE_ALLOW_LIST].map((c) => [c.path, c.content])));
    plan = buildPlan(await new LocalDockerfileSource(dir).list(), {
      target: parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror'),
      allowRegistries: ['docker.io', 'quay.io'],
    });
  });

  it('holds at least 40 cases', () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('refuses $name with an error naming the file and the problem', ({ path, error }) => {
    const issues = plan.errors.filter((e) => e.file === path);
    expect(issues, `no error for ${path}`).toHaveLength(1);
    expect(issues[0]?.message).toContain(error);
  });

  it('quotes no more than a short piece of what a file holds', () => {
    for (const issue of plan.errors) expect(issue.message.length, issue.file).toBeLessThan(1000);
  });

  it('leaves a registry outside the allow-list out with one notice, not as an invalid file', () => {
    expect(plan.errors.filter((e) => e.file === OUTSIDE_ALLOW_LIST.path)).toEqual([]);
    expect(plan.warnings.filter((w) => w.file === OUTSIDE_ALLOW_LIST.path)).toEqual([{ file: OUTSIDE_ALLOW_LIST.path, message: OUTSIDE_ALLOW_LIST.notice }]);
  });

  it('still plans every valid file, and nothing else', () => {
    expect(plan.jobs.map((job) => job.files)).toEqual([['docker.io/library/alpine/Dockerfile'], ['docker.io/library/redis/Dockerfile'], ['quay.io/prometheus/node-exporter/Dockerfile']]);
  });
});
