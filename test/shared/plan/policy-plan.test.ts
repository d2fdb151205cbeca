import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import type { KeylessRule, KeyRule, SignaturePolicy } from '../../../shared/plan/policy.ts';
import { applyPolicy, ruleNote, withRules } from '../../../shared/plan/policy-plan.ts';
import { planReport } from '../../../shared/plan/report.ts';

const acme: KeyRule = { name: 'acme', by: 'key', images: ['ghcr.io/acme/**'], key: { path: 'keys/acme.pub', pem: '-----BEGIN PUBLIC KEY-----\n…' } };
const hub: KeylessRule = {
  name: 'official',
  by: 'keyless',
  images: ['docker.io/library/*'],
  issuer: { exact: 'https://token.actions.githubusercontent.com' },
  subject: { regexp: '^https://github\\.com/docker-library/.*$' },
};
const catchAll: KeyRule = { ...acme, name: 'catch-all', images: ['ghcr.io/**'], key: { path: 'keys/any.pub', pem: 'x' } };
const policy: SignaturePolicy = { path: 'signature-policy.yaml', rules: [acme, hub, catchAll] };

const entries = [
  { path: 'ghcr.io/acme/app/Dockerfile', text: 'FROM ghcr.io/acme/app:1\n' },
  { path: 'docker.io/library/postgres/Dockerfile', text: 'FROM postgres:16\n' },
  { path: 'ghcr.io/other/tool/Dockerfile', text: 'FROM ghcr.io/other/tool:2\n' },
  { path: 'quay.io/prometheus/node-exporter/Dockerfile', text: 'FROM quay.io/prometheus/node-exporter:v1.8.2\n' },
];

describe('applyPolicy', () => {
  it('gives each job the first rule whose pattern matches its image, and none to the images no rule covers', () => {
    const plan = applyPolicy(buildPlan(entries), policy);
    const bySource = Object.fromEntries(plan.jobs.map((job) => [`${job.source.registry}/${job.source.repository}`, job.verify?.name]));

    expect(bySource).toEqual({
      'ghcr.io/acme/app': 'acme',
      'docker.io/library/postgres': 'official',
      'ghcr.io/other/tool': 'catch-all',
      'quay.io/prometheus/node-exporter': undefined,
    });
    expect(plan.jobs.find((job) => job.source.repository === 'acme/app')?.verify).toBe(acme);
  });

  it('leaves the plan as it is without a policy, and keeps its errors and warnings with one', () => {
    const plan = buildPlan([...entries, { path: 'bad/Dockerfile', text: 'FROM\n' }]);

    expect(applyPolicy(plan, undefined)).toBe(plan);
    const covered = applyPolicy(plan, policy);
    expect(covered.errors).toEqual(plan.errors);
    expect(covered.warnings).toEqual(plan.warnings);
    expect(covered.jobs.map((job) => job.source)).toEqual(plan.jobs.map((job) => job.source));
  });

  it('covers nothing with a policy of no rules', () => {
    const plan = applyPolicy(buildPlan(entries), { path: 'signature-policy.yaml', rules: [] });

    expect(plan.jobs.every((job) => job.verify === undefined)).toBe(true);
  });
});

describe('withRules', () => {
  it("puts each job's rule on its result line by name and kind, never its key", () => {
    const plan = applyPolicy(buildPlan(entries), policy);
    const report = withRules(planReport(plan), plan);
    const rules = Object.fromEntries(report.results.map((result) => [result.source, result.rule]));

    expect(rules).toEqual({
      'docker.io/library/postgres:16': { name: 'official', by: 'keyless' },
      'ghcr.io/acme/app:1': { name: 'acme', by: 'key' },
      'ghcr.io/other/tool:2': { name: 'catch-all', by: 'key' },
      'quay.io/prometheus/node-exporter:v1.8.2': undefined,
    });
    expect(JSON.stringify(report)).not.toContain('BEGIN PUBLIC KEY');
  });

  it('returns the report unchanged when no job has a rule', () => {
    const plan = buildPlan(entries);
    const report = planReport(plan);

    expect(withRules(report, plan)).toBe(report);
  });
});

describe('ruleNote', () => {
  it('names a rule and how it verifies', () => {
    expect(ruleNote(hub)).toEqual({ name: 'official', by: 'keyless' });
    expect(ruleNote(acme)).toEqual({ name: 'acme', by: 'key' });
  });

  it('matches Docker Hub images by their normalised name', () => {
    const plan = applyPolicy({ jobs: [{ source: parseImageReference('postgres:16'), files: ['Dockerfile'] }], errors: [], warnings: [] }, policy);

    expect(plan.jobs[0]?.verify?.name).toBe('official');
  });
});
