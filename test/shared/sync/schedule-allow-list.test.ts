import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';
import { scheduleSync } from '../../../shared/sync/schedule.ts';
import { FakeInvoker, FakeScheduleRecorder } from '../../fakes/invoker.ts';

// ALLOW_REGISTRIES reaches the plan as PlanOptions.allowRegistries, as --allow-registry does in the CLI.
describe('scheduleSync with an allow-list', () => {
  const files: DockerfileEntry[] = [
    { path: 'docker.io/library/redis/Dockerfile', text: 'FROM redis:7' },
    { path: 'quay.io/prometheus/node-exporter/Dockerfile', text: 'FROM quay.io/prometheus/node-exporter:v1.8.2' },
    { path: 'ghcr.io/a/b/Dockerfile', text: 'FROM ghcr.io/a/b:1' },
  ];
  const options = { target: parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror'), maxInFlight: 2, allowRegistries: ['docker.io', 'quay.io'] };

  it('invokes no worker for a registry left out, and reports its file as a warning, not an invalid file', async () => {
    const invoker = new FakeInvoker();
    const recorder = new FakeScheduleRecorder();
    const summary = await scheduleSync({}, { tree: async () => ({ source: { list: async () => files } }), invoker, recorder }, options, 'run');
    expect(invoker.invoked.map((job) => job.source).sort()).toEqual(['docker.io/library/redis:7', 'quay.io/prometheus/node-exporter:v1.8.2']);
    expect(summary).toMatchObject({ planned: 2, invoked: 2, invalid: 0, errors: [] });
    expect(summary.warnings).toEqual([{ file: 'ghcr.io/a/b/Dockerfile', message: 'not mirrored: registry ghcr.io is not in the allowed registries (docker.io, quay.io)' }]);
    expect(recorder.runs).toEqual([summary]);
  });
});
