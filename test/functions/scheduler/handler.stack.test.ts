import { CreateRepositoryCommand, ECRClient } from '@aws-sdk/client-ecr';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METRIC } from '../../../shared/observability/names.ts';
import type { ScheduleSummary } from '../../../shared/ports.ts';
import { type FakeGitHub, startFakeGitHub } from '../../support/fake-github.ts';
import { captureJsonLines, emfMetrics, lambdaContext } from '../../support/lambda.ts';
import { motoEnv, stack, uniqueName } from '../../support/stack.ts';

type Handler = (event: unknown, context: unknown) => Promise<ScheduleSummary>;

describe('scheduler handler (fake GitHub, moto Secrets Manager)', () => {
  const s = stack();
  const ns = uniqueName('sched');
  const token = `ghp_${ns.replace(/-/g, '')}SECRET`;
  const saved = { ...process.env };
  let github: FakeGitHub;

  beforeAll(async () => {
    github = await startFakeGitHub({
      owner: 'octo',
      repo: 'images',
      token,
      files: {
        'README.md': '# images\n',
        'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
        'images/quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
        'images/docker.io/library/broken/Dockerfile': 'FROM postgres:${NOPE}\n',
        // Hostile files used to stop the whole run (no worker invoked): a 24 KB nest, a value doubling line by line.
        'images/docker.io/library/nested/Dockerfile': `ARG A\nFROM postgres:${'${A:-'.repeat(4000)}14${'}'.repeat(4000)}\n`,
        'images/docker.io/library/doubling/Dockerfile': `ARG L0=${'a'.repeat(1000)}\n${Array.from({ length: 9 }, (_, i) => `ARG L${i + 1}=\${L${i}}\${L${i}}`).join('\n')}\nFROM postgres:\${L9}\n`,
      },
    });
    const secrets = new SecretsManagerClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await secrets.send(new CreateSecretCommand({ Name: `github/${ns}`, SecretString: JSON.stringify({ token }) }));
  });

  afterAll(async () => {
    process.env = saved;
    await github.close();
  });

  async function loadHandler(env: Record<string, string> = {}): Promise<Handler> {
    vi.resetModules();
    process.env = {
      ...saved,
      ...motoEnv(s),
      GITHUB_REPOSITORY: 'octo/images',
      GITHUB_API_URL: github.url,
      GITHUB_TOKEN_SECRET_ID: `github/${ns}`,
      WORKER_FUNCTION_NAME: 'image-mirror-test-worker',
      TARGET: '123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror',
      ...env,
    };
    return (await import('../../../functions/scheduler/handler.ts')).handler as unknown as Handler;
  }

  it('plans a dry run from the GitHub tree with the token from Secrets Manager, logging and counting it, never printing the token', async () => {
    const handler = await loadHandler();
    const { value, error, lines, raw } = await captureJsonLines(() => handler({ dryRun: true }, lambdaContext('scheduler')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ dryRun: true, planned: 2, invoked: 0, invalid: 3 });
    expect(value?.errors.map((e) => e.file)).toEqual(['docker.io/library/broken/Dockerfile', 'docker.io/library/doubling/Dockerfile', 'docker.io/library/nested/Dockerfile']);
    expect(value?.jobs.map((j) => j.target)).toEqual([
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/docker.io/library/postgres:14',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror/quay.io/prometheus/node-exporter:v1.8.2',
    ]);
    expect(lines.find((l) => l.message === 'invalid file')).toMatchObject({ level: 'WARN', file: 'docker.io/library/broken/Dockerfile' });
    // The run id (start time, then the request id's start) and Lambda's context on the run's line.
    const context = lambdaContext('scheduler');
    const scheduled = lines.find((l) => l.message === 'sync scheduled');
    expect(scheduled).toMatchObject({ planned: 2, invalid: 3, dryRun: true, notInvoked: 0, runId: value?.runId, cold_start: expect.any(Boolean), function_name: context.functionName });
    expect(value?.runId).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/req/);
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.schedulerRuns]: 1, [METRIC.planned]: 2, [METRIC.invalidFiles]: 3 });
    expect(raw).not.toContain(token);
    // The default branch resolved to a commit, the signature policy file at it (none here: one GraphQL query), the tree
    // and the Dockerfiles: as many calls as before the pinning, whose commit lookup stands where the default branch's was.
    expect(github.requests.filter((r) => r.endpoint !== 'other').map((r) => r.endpoint)).toEqual(['commit', 'graphql', 'tree', 'graphql']);
  });

  it.each([
    [401, {}, 'GitHub answered 401'],
    [403, { rateLimited: true }, 'rate limit'],
    [404, {}, 'not found'],
    [502, {}, '502'],
  ])('reports GitHub answering %i clearly, fails the run, and moves the failure metric', async (status, extra, message) => {
    const handler = await loadHandler();
    github.setFault('tree', { status, ...extra });
    const { error, lines, raw } = await captureJsonLines(() => handler({}, lambdaContext('scheduler')));
    expect((error as Error).message).toContain('octo/images');
    expect((error as Error).message).toContain(message);
    expect(lines.find((l) => l.message === 'schedule failed')).toMatchObject({ level: 'ERROR', runId: expect.stringMatching(/Z\/req/) });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.schedulerFailures]: 1 });
    expect(raw).not.toContain(token);
  });

  it('reports the repositories under the prefix that no Dockerfile names any more, deleting nothing', async () => {
    const prefix = `orph-${ns}`;
    const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const managed = (source: string) => [{ Key: 'managed-by', Value: 'image-mirror' }, { Key: 'source', Value: source }];
    // Named by the tree; left behind; made by hand (no managed-by tag); its Dockerfile is broken, not removed.
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/docker.io/library/postgres`, tags: managed('docker.io/library/postgres') }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/docker.io/library/memcached`, tags: managed('docker.io/library/memcached') }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/docker.io/library/handmade` }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/docker.io/library/broken`, tags: managed('docker.io/library/broken') }));

    const handler = await loadHandler({ TARGET: `123456789012.dkr.ecr.us-east-1.amazonaws.com/${prefix}` });
    const { value, error, lines } = await captureJsonLines(() => handler({ dryRun: true }, lambdaContext('scheduler')));
    expect(error).toBeUndefined();
    expect(value?.orphans).toEqual({ repositories: [`${prefix}/docker.io/library/memcached`], checked: 4 });
    expect(lines.find((l) => l.message === 'orphaned repositories')).toMatchObject({ level: 'WARN', runId: value?.runId, count: 1, repositories: [`${prefix}/docker.io/library/memcached`] });
    // The run's counts are written as soon as it is recorded; the orphans' count after the listing, in a document of its own.
    const [run, orphans] = emfMetrics(lines);
    expect(run).toMatchObject({ [METRIC.schedulerRuns]: 1, [METRIC.notInvoked]: 0 });
    expect(orphans).toMatchObject({ [METRIC.orphanedRepositories]: 1 });
  });

  it('says when the orphan check fails, and plans all the same', async () => {
    // No ECR answers there: the listing fails, the run does not.
    const handler = await loadHandler({ AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:9', TARGET: '123456789012.dkr.ecr.us-east-1.amazonaws.com/mirror' });
    const { value, error, lines } = await captureJsonLines(() => handler({ dryRun: true }, lambdaContext('scheduler')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ planned: 2, orphans: { error: expect.stringContaining('looking for orphaned repositories') } });
    expect(lines.find((l) => l.message === 'orphan check failed')).toMatchObject({ level: 'WARN' });
  });

  it('refuses a malformed on-demand event', async () => {
    const handler = await loadHandler();
    const { error } = await captureJsonLines(() => handler({ only: 'postgres' }, lambdaContext('scheduler')));
    expect((error as Error).message).toContain('"only" must be a list of image names');
  });
});
