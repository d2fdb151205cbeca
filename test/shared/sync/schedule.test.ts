import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { newRunId, scheduleSync } from '../../../shared/sync/schedule.ts';
import { FakeInvoker, FakeScheduleRecorder } from '../../fakes/invoker.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';

const files: DockerfileEntry[] = [
  { path: 'docker.io/library/postgres/Dockerfile', text: 'FROM postgres:14' },
  { path: 'docker.io/library/postgres-16/Dockerfile', text: 'FROM postgres:16' },
  { path: 'docker.io/library/redis/Dockerfile', text: 'FROM redis:7' },
  { path: 'quay.io/prometheus/node-exporter/Dockerfile', text: 'FROM quay.io/prometheus/node-exporter:v1.8.2' },
  { path: 'docker.io/library/broken/Dockerfile', text: 'FROM ${NOPE}' },
];
const source = { list: async () => files };
const options = { target: parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror'), maxInFlight: 2 };

describe('scheduleSync', () => {
  it('invokes one worker per image with source, target and files, and reports invalid files', async () => {
    const invoker = new FakeInvoker();
    const recorder = new FakeScheduleRecorder();
    const summary = await scheduleSync({}, { tree: async () => ({ source }), invoker, recorder }, options, '2026-12-03T10:00:00Z/3f2a9c1e');
    expect(summary).toMatchObject({ runId: '2026-12-03T10:00:00Z/3f2a9c1e', dryRun: false, planned: 4, invoked: 4, failedInvokes: 0, invalid: 1 });
    expect(invoker.invoked.map((job) => job.source).sort()).toEqual([
      'docker.io/library/postgres:14',
      'docker.io/library/postgres:16',
      'docker.io/library/redis:7',
      'quay.io/prometheus/node-exporter:v1.8.2',
    ]);
    expect(invoker.invoked.find((job) => job.source === 'docker.io/library/redis:7')).toEqual({
      source: 'docker.io/library/redis:7',
      target: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/docker.io/library/redis:7',
      files: ['docker.io/library/redis/Dockerfile'],
      runId: '2026-12-03T10:00:00Z/3f2a9c1e',
    });
    expect(summary.errors).toEqual([{ file: 'docker.io/library/broken/Dockerfile', message: 'line 1: ARG NOPE is not declared before the first FROM' }]);
    expect(recorder.runs).toEqual([summary]);
    // Exactly the bound: never more at once, and not one at a time either.
    expect(invoker.maxInFlight).toBe(2);
  });

  it('invokes only the images asked for, by repository or by exact reference, and names what matched nothing', async () => {
    const invoker = new FakeInvoker();
    const summary = await scheduleSync({ only: ['postgres', 'quay.io/prometheus/node-exporter:v1.8.2', 'ghcr.io/nothing/here'] }, { tree: async () => ({ source }), invoker, recorder: new FakeScheduleRecorder() }, options);
    expect(invoker.invoked.map((job) => job.source).sort()).toEqual(['docker.io/library/postgres:14', 'docker.io/library/postgres:16', 'quay.io/prometheus/node-exporter:v1.8.2']);
    expect(summary.unmatched).toEqual(['ghcr.io/nothing/here']);
    await scheduleSync({ only: ['docker.io/library/postgres:16'] }, { tree: async () => ({ source }), invoker: new FakeInvoker(), recorder: new FakeScheduleRecorder() }, options).then((s) => expect(s.jobs.map((j) => j.source)).toEqual(['docker.io/library/postgres:16']));
  });

  it('plans without invoking on a dry run', async () => {
    const invoker = new FakeInvoker();
    const summary = await scheduleSync({ dryRun: true }, { tree: async () => ({ source }), invoker, recorder: new FakeScheduleRecorder() }, options);
    expect(summary).toMatchObject({ dryRun: true, planned: 4, invoked: 0 });
    expect(summary.jobs).toHaveLength(4);
    expect(invoker.invoked).toEqual([]);
  });

  it('reports a partial fan-out with the images left out, and succeeds, so that nothing re-runs the whole fan-out', async () => {
    const invoker = new FakeInvoker(/redis/);
    const recorder = new FakeScheduleRecorder();
    const summary = await scheduleSync({}, { tree: async () => ({ source }), invoker, recorder }, options);
    // A thrown run would be retried by Lambda, invoking the three other workers again: it returns instead.
    expect(invoker.invoked.map((job) => job.source).sort()).toEqual(['docker.io/library/postgres:14', 'docker.io/library/postgres:16', 'quay.io/prometheus/node-exporter:v1.8.2']);
    expect(summary).toMatchObject({ planned: 4, invoked: 3, failedInvokes: 1 });
    expect(summary.invokeErrors).toEqual([{ source: 'docker.io/library/redis:7', message: 'Rate exceeded' }]);
    expect(recorder.runs).toEqual([summary]);
    expect(recorder.failures).toEqual([]);
  });

  it('records the run before it looks for orphans, and gives that check up at the deadline', async () => {
    const recorder = new FakeScheduleRecorder();
    let runsRecordedFirst = -1;
    const endless = () => {
      runsRecordedFirst = recorder.runs.length;
      return new Promise<never>(() => undefined);
    };
    const summary = await scheduleSync({}, { tree: async () => ({ source }), invoker: new FakeInvoker(), recorder, orphans: endless }, options, 'run-1', Date.now() + 50);
    expect(runsRecordedFirst).toBe(1);
    expect(summary.orphans).toEqual({ error: "looking for orphaned repositories: not finished by the scheduler's deadline; the next run looks again" });
    expect(recorder.orphans).toEqual([{ runId: 'run-1', orphans: summary.orphans }]);
  });

  it('gives each run its own id, sorted by time, in every worker event', async () => {
    const invoker = new FakeInvoker();
    const summary = await scheduleSync({}, { tree: async () => ({ source }), invoker, recorder: new FakeScheduleRecorder() }, options);
    expect(summary.runId).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/[0-9a-f]{1,8}$/);
    expect(new Set(invoker.invoked.map((job) => job.runId))).toEqual(new Set([summary.runId]));
    expect(newRunId('8c1f3d2e-5b6a-4c7d-9e0f-112233445566', new Date('2026-12-03T10:00:00.123Z'))).toBe('2026-12-03T10:00:00Z/8c1f3d2e');
    expect(newRunId('8c1f3d2e', new Date('2026-12-03T16:00:00Z')) > newRunId('ffffffff', new Date('2026-12-03T10:00:00Z'))).toBe(true);
  });

  it('records and rethrows a source failure, invoking nothing', async () => {
    const invoker = new FakeInvoker();
    const recorder = new FakeScheduleRecorder();
    const broken = { list: async () => Promise.reject(new Error('listing the tree of octo/images@main: GitHub answered 401')) };
    await expect(scheduleSync({}, { tree: async () => ({ source: broken }), invoker, recorder }, options)).rejects.toThrow('GitHub answered 401');
    expect(invoker.invoked).toEqual([]);
    expect(recorder.failures).toHaveLength(1);
  });

  it.each([
    [{ only: 'postgres' }, '"only" must be a list of image names'],
    [{ only: ['Bad:Ref'] }, '"only": invalid image reference "Bad:Ref"'],
    [{ dryRun: 'yes' }, '"dryRun" must be true or false'],
  ])('refuses the event %j', async (event, message) => {
    await expect(scheduleSync(event as never, { tree: async () => ({ source }), invoker: new FakeInvoker(), recorder: new FakeScheduleRecorder() }, options)).rejects.toThrow(message);
  });

  it('ignores the fields of an EventBridge scheduled event', async () => {
    const event = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };
    await expect(scheduleSync(event as never, { tree: async () => ({ source }), invoker: new FakeInvoker(), recorder: new FakeScheduleRecorder() }, options)).resolves.toMatchObject({ planned: 4 });
  });
});
