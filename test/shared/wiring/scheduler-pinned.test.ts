import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSchedulerConfig } from '../../../shared/config/scheduler-config.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { Verified } from '../../../shared/plan/policy.ts';
import type { MirrorResult, WorkerJobPayload } from '../../../shared/ports.ts';
import { scheduleSync } from '../../../shared/sync/schedule.ts';
import { runWorkerJob } from '../../../shared/sync/worker-job.ts';
import { createSchedulerDeps } from '../../../shared/wiring/scheduler.ts';
import { FakeInvoker, FakeScheduleRecorder } from '../../fakes/invoker.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';
import { type FakeFile, type FakeGitHub, type RecordedRequest, startFakeGitHub } from '../../support/fake-github.ts';

// The scheduler as the Lambda wires it, over a fake GitHub: one commit per run for the Dockerfiles and the policy, the
// rule's key inline in the worker's payload (and accepted by the worker), and none of it in the run's summary.

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const POLICY = 'rules:\n  - name: acme\n    images: ["quay.io/acme/**"]\n    key: keys/acme.pub\n';
const FIRST: Record<string, FakeFile> = {
  'images/quay.io/acme/app/Dockerfile': 'FROM quay.io/acme/app:1\n',
  'images/signature-policy.yaml': POLICY,
  'images/keys/acme.pub': PEM,
};
// What a push during the run leaves on the branch: another image, and a policy that covers nothing.
const PUSHED: Record<string, FakeFile> = {
  'images/quay.io/acme/app/Dockerfile': 'FROM quay.io/acme/app:2\n',
  'images/signature-policy.yaml': 'rules: []\n',
};

let github: FakeGitHub | undefined;
afterEach(async () => {
  await github?.close();
  github = undefined;
});

async function schedule(files: Record<string, FakeFile>, env: Record<string, string> = {}, onRequest?: (request: RecordedRequest) => void) {
  github = await startFakeGitHub({ files, ...(onRequest ? { onRequest } : {}) });
  const config = loadSchedulerConfig({ GITHUB_REPOSITORY: 'octo/images', GITHUB_API_URL: github.url, WORKER_FUNCTION_NAME: 'image-mirror-test-worker', TARGET: 'registry.example.com/mirror', ...env });
  const invoker = new FakeInvoker();
  const summary = await scheduleSync({}, { ...createSchedulerDeps(config), invoker, recorder: new FakeScheduleRecorder() }, config, 'run-1');
  return { summary, invoker, github };
}

/** The payload as the worker gets it, run through the worker's own checks with a verifier that accepts what it is asked. */
async function workerResult(payload: WorkerJobPayload): Promise<MirrorResult> {
  const registry = new FakeManifestRegistry();
  registry.digests.set(payload.source, `sha256:${'1'.repeat(64)}`);
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  const verifier = { verify: async (): Promise<Verified> => ({ rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' }) };
  const recorder = { record: () => undefined, retrying: () => undefined };
  const settings = { target: parseTargetBase('registry.example.com/mirror'), nameTemplate: '{registry}/{repository}', allowRegistries: [], platforms: [] };
  return runWorkerJob(JSON.parse(JSON.stringify(payload)) as WorkerJobPayload, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder, verifier }, settings);
}

describe('the scheduler over GitHub', () => {
  it('reads the Dockerfiles and the policy at the one commit the ref named when the run began, though a push lands during it', async () => {
    let pushed = false;
    const { invoker, github: fake } = await schedule(FIRST, {}, () => {
      if (pushed) return;
      pushed = true;
      github?.push(PUSHED);
    });
    expect(invoker.invoked.map((job) => job.source)).toEqual(['quay.io/acme/app:1']);
    expect(invoker.invoked[0]?.verify?.name).toBe('acme');
    // One call resolves the default branch to a commit; everything else reads that sha: the tree, the Dockerfiles (by
    // blob id), the policy and its key.
    expect(fake.requests.map((request) => request.endpoint)).toEqual(['commit', 'graphql', 'graphql', 'tree', 'graphql']);
    expect(fake.requests[0]?.path).toBe('/repos/octo/images/commits/HEAD');
    const sha = /^\/repos\/octo\/images\/git\/trees\/([0-9a-f]{40})\?recursive=true$/.exec(fake.requests[3]?.path ?? '')?.[1];
    expect(sha).toBeDefined();
    const files = fake.requests.slice(1, 3).map((request) => (request.body as { variables: Record<string, string> }).variables.file);
    expect(files).toEqual([`${sha}:images/signature-policy.yaml`, `${sha}:images/keys/acme.pub`]);
  });

  it('resolves GITHUB_REF to a commit too: one call more than reading the ref by name', async () => {
    const { github: fake } = await schedule(FIRST, { GITHUB_REF: 'main' });
    expect(fake.requests.map((request) => request.path.split('?')[0])).toEqual([
      '/repos/octo/images/commits/main',
      '/graphql',
      '/graphql',
      expect.stringMatching(/^\/repos\/octo\/images\/git\/trees\/[0-9a-f]{40}$/),
      '/graphql',
    ]);
  });

  it('lists each job in its summary with the rule named, never its key, while the worker gets the key inline', async () => {
    const { summary, invoker } = await schedule(FIRST);
    expect(summary.jobs).toEqual([{ source: 'quay.io/acme/app:1', target: 'registry.example.com/mirror/quay.io/acme/app:1', files: ['quay.io/acme/app/Dockerfile'], runId: 'run-1', verify: { name: 'acme', by: 'key' } }]);
    expect(JSON.stringify(summary)).not.toContain('PUBLIC KEY');
    expect(invoker.invoked[0]?.verify).toEqual({ name: 'acme', images: ['quay.io/acme/**'], by: 'key', key: { path: 'keys/acme.pub', pem: PEM } });
  });

  it('sends a key file with a comment before its PEM block as a key the worker accepts', async () => {
    const commented = `# acme's release key, kept since 2026\n${PEM}`;
    const { invoker } = await schedule({ ...FIRST, 'images/keys/acme.pub': commented });
    const payload = invoker.invoked[0];
    expect(payload?.verify?.by).toBe('key');
    const result = await workerResult(payload as WorkerJobPayload);
    expect(result.error ?? null).toBeNull();
    expect(result).toMatchObject({ status: 'copied', verified: { rule: 'acme' } });
  });
});
