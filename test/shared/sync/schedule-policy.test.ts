import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSchedulerConfig } from '../../../shared/config/scheduler-config.ts';
import { PolicyFileError } from '../../../shared/errors.ts';
import type { WorkerJobPayload } from '../../../shared/ports.ts';
import { scheduleSync } from '../../../shared/sync/schedule.ts';
import { createSchedulerDeps } from '../../../shared/wiring/scheduler.ts';
import { type FakeFile, type FakeGitHub, startFakeGitHub } from '../../support/fake-github.ts';
import { FakeInvoker, FakeScheduleRecorder } from '../../fakes/invoker.ts';

// The scheduler's wiring over a fake GitHub serving GitHub's endpoints: the policy is read from the images tree the
// Dockerfiles come from, and the rule covering each image travels in its worker event. Only the invoker is a fake.

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const POLICY = `rules:
  - name: acme
    images: ["quay.io/acme/**"]
    key: keys/acme.pub
  - name: distroless
    images: ["gcr.io/distroless/*"]
    keyless:
      issuer: https://accounts.google.com
      subjectRegExp: 'keyless@[a-z-]+\\.iam\\.gserviceaccount\\.com'
`;
const DOCKERFILES: Record<string, FakeFile> = {
  'images/quay.io/acme/app/Dockerfile': 'FROM quay.io/acme/app:1\n',
  'images/gcr.io/distroless/static/Dockerfile': 'FROM gcr.io/distroless/static:nonroot\n',
  'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
};

let github: FakeGitHub | undefined;
afterEach(async () => {
  await github?.close();
  github = undefined;
});

/** A scheduler run over the fake GitHub, as the Lambda wires it, but for the invoker and the recorder. */
async function schedule(files: Record<string, FakeFile>, env: Record<string, string> = {}, refs?: Record<string, Record<string, FakeFile>>) {
  github = await startFakeGitHub({ files, ...(refs ? { refs } : {}) });
  const config = loadSchedulerConfig({ GITHUB_REPOSITORY: 'octo/images', GITHUB_API_URL: github.url, WORKER_FUNCTION_NAME: 'image-mirror-test-worker', TARGET: 'registry.example.com/mirror', ...env });
  const invoker = new FakeInvoker();
  const recorder = new FakeScheduleRecorder();
  const run = scheduleSync({}, { ...createSchedulerDeps(config), invoker, recorder }, config, 'run-1');
  return { run, invoker, recorder };
}

const bySource = (jobs: readonly WorkerJobPayload[]) => Object.fromEntries(jobs.map((job) => [job.source, job]));

describe('scheduleSync with a signature policy on GitHub', () => {
  it('sends each image the rule that covers it, key or regexp inline, and none to an image no rule covers', async () => {
    const { run, invoker } = await schedule({ ...DOCKERFILES, 'images/signature-policy.yaml': POLICY, 'images/keys/acme.pub': PEM });
    const summary = await run;
    expect(summary).toMatchObject({ planned: 3, invoked: 3 });
    const jobs = bySource(invoker.invoked);
    expect(jobs['quay.io/acme/app:1']?.verify).toEqual({ name: 'acme', images: ['quay.io/acme/**'], by: 'key', key: { path: 'keys/acme.pub', pem: PEM } });
    expect(jobs['gcr.io/distroless/static:nonroot']?.verify).toEqual({
      name: 'distroless',
      images: ['gcr.io/distroless/*'],
      by: 'keyless',
      issuer: { exact: 'https://accounts.google.com' },
      subject: { regexp: 'keyless@[a-z-]+\\.iam\\.gserviceaccount\\.com' },
    });
    expect(jobs['docker.io/library/postgres:14']).not.toHaveProperty('verify');
    // What the worker receives is JSON: the rule must survive it unchanged.
    expect(JSON.parse(JSON.stringify(jobs['quay.io/acme/app:1']))).toEqual(jobs['quay.io/acme/app:1']);
  });

  it('reads the policy at the ref the Dockerfiles are read at', async () => {
    const release = { ...DOCKERFILES, 'images/signature-policy.yaml': POLICY.replace('quay.io/acme/**', 'quay.io/nobody/**'), 'images/keys/acme.pub': PEM };
    const { run, invoker } = await schedule({ ...DOCKERFILES, 'images/signature-policy.yaml': POLICY, 'images/keys/acme.pub': PEM }, { GITHUB_REF: 'release' }, { release });
    await run;
    const jobs = bySource(invoker.invoked);
    expect(jobs['quay.io/acme/app:1']).not.toHaveProperty('verify');
    expect(jobs['gcr.io/distroless/static:nonroot']?.verify?.name).toBe('distroless');
  });

  it('sends no rule at all when the images tree has no policy file', async () => {
    const { run, invoker } = await schedule(DOCKERFILES);
    expect(await run).toMatchObject({ planned: 3, invoked: 3 });
    for (const job of invoker.invoked) expect(job).not.toHaveProperty('verify');
  });

  it.each([
    ['a key file that does not exist', { 'images/signature-policy.yaml': POLICY }, 'rule "acme": key file "keys/acme.pub" does not exist'],
    ['YAML that does not parse', { 'images/signature-policy.yaml': 'rules: [\n', 'images/keys/acme.pub': PEM }, 'not valid YAML'],
    ['a key file that is a symbolic link', { 'images/signature-policy.yaml': POLICY, 'images/keys/acme.pub': { symlink: '../../outside.pem' } }, 'it is a symbolic link, which is not followed'],
  ])('fails the run and sends no job for a policy with %s', async (_, policyFiles, message) => {
    const { run, invoker, recorder } = await schedule({ ...DOCKERFILES, ...policyFiles });
    const error = await run.then(() => undefined, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PolicyFileError);
    expect((error as Error).message).toContain(message);
    expect(invoker.invoked).toEqual([]);
    expect(recorder.runs).toEqual([]);
    expect(recorder.failures).toEqual([error]);
  });
});
