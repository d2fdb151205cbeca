import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../../scripts/lib/oci-seed.ts';
import { METRIC, METRICS_NAMESPACE } from '../../../shared/observability/names.ts';
import type { MirrorResult } from '../../../shared/ports.ts';
import { startDockerHub } from '../../support/docker-hub.ts';
import { startFaultProxy } from '../../support/fault-proxy.ts';
import { captureJsonLines, emfMetrics, lambdaContext } from '../../support/lambda.ts';
import { motoEnv, stack, uniqueName } from '../../support/stack.ts';

type Handler = (event: unknown, context: unknown) => Promise<MirrorResult>;

describe('worker handler end to end (moto ECR + Secrets Manager, real registries, real crane)', () => {
  const s = stack();
  const ns = uniqueName('worker');
  const prefix = `lambda-${ns}`;
  const secretValue = `pw-${ns}-do-not-log`;
  const aws = motoEnv(s);
  const saved = { ...process.env };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const targetRepo = (repo: string) => `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}/${repo}`;
  let index: Awaited<ReturnType<typeof pushIndex>>;

  async function loadHandler(env: Record<string, string>): Promise<Handler> {
    vi.resetModules();
    process.env = { ...saved, ...aws, ...env };
    return (await import('../../../functions/worker/handler.ts')).handler as unknown as Handler;
  }

  beforeAll(async () => {
    index = await pushIndex({ registry: s.sourceRegistry }, `${ns}/app`, '1', ['linux/amd64', 'linux/arm64']);
    const secrets = new SecretsManagerClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await secrets.send(new CreateSecretCommand({ Name: `image-mirror/${ns}`, SecretString: JSON.stringify({ [s.sourceRegistry]: { username: 'mirror', password: secretValue } }) }));
  });

  afterAll(() => {
    process.env = saved;
  });

  const workerEnv = () => ({
    TARGET: `${s.targetRegistry}/${prefix}`,
    TARGET_IS_ECR: 'true',
    CRANE_PATH: s.crane,
    SOURCE_CREDENTIALS_SECRET_ID: `image-mirror/${ns}`,
  });

  it('creates the repository, copies with the digest kept, then skips, logging one JSON line and EMF metrics each time', async () => {
    const handler = await loadHandler(workerEnv());
    const event = { source: `${s.sourceRegistry}/${ns}/app:1` };

    const first = await captureJsonLines(() => handler(event, lambdaContext('worker')));
    expect(first.error).toBeUndefined();
    expect(first.value).toMatchObject({ status: 'copied', digest: index.index.digest, target: `${s.targetRegistry}/${targetRepo('app')}:1` });
    expect(await manifestDigest(target, targetRepo('app'), '1')).toBe(index.index.digest);
    const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const repos = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [targetRepo('app')] }));
    expect(repos.repositories).toHaveLength(1);

    const logLine = first.lines.find((line) => line.message === 'image copied');
    expect(logLine).toMatchObject({ level: 'INFO', service: 'image-mirror', source: event.source, digest: index.index.digest, target: `${s.targetRegistry}/${targetRepo('app')}:1` });
    const [emf] = emfMetrics(first.lines);
    expect(emf).toMatchObject({ service: 'image-mirror', [METRIC.copied]: 1 });
    expect(typeof emf?.[METRIC.duration]).toBe('number');
    const directive = (emf?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive?.Dimensions).toEqual([['service']]);
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual([METRIC.copied, METRIC.duration].sort());

    const second = await captureJsonLines(() => handler(event, lambdaContext('worker')));
    expect(second.value).toMatchObject({ status: 'skipped', digest: index.index.digest });
    expect(second.lines.find((line) => line.message === 'image skipped')).toBeDefined();
    expect(emfMetrics(second.lines)[0]).toMatchObject({ [METRIC.skipped]: 1 });

    // The source credentials came from the secret; the secret never reaches a log line.
    expect(first.raw + second.raw).not.toContain(secretValue);
  });

  it('computes the target from its configuration when the event names only the source', async () => {
    const handler = await loadHandler(workerEnv());
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/solo`, '7');
    const { value } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/solo:7` }, lambdaContext('worker')));
    expect(value).toMatchObject({ status: 'copied', target: `${s.targetRegistry}/${targetRepo('solo')}:7` });
    expect(await manifestDigest(target, targetRepo('solo'), '7')).toBe(pushed.digest);
  });

  it.each([
    [{}, 'invalid worker event: the event has no "source" string'],
    [{ source: 'Bad:Ref' }, 'invalid worker event: invalid image reference "Bad:Ref"'],
    [{ source: 'alpine:3.20', target: 'evil.example.com/x:1' }, 'must be a tag under'],
  ])('records %j as a permanent failure without throwing', async (event, message) => {
    const handler = await loadHandler(workerEnv());
    const { value, error, lines } = await captureJsonLines(() => handler(event, lambdaContext('worker')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ status: 'failed', retryable: false });
    expect(value?.error).toContain(message);
    expect(lines.find((line) => line.message === 'image failed')).toMatchObject({ level: 'ERROR', retryable: false });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.failed]: 1 });
  });

  it('records a missing source image as permanent: no retry would help', async () => {
    const handler = await loadHandler(workerEnv());
    const { value, error } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/missing:1` }, lambdaContext('worker')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ status: 'failed', retryable: false });
    expect(value?.error).toContain('no such image (404)');
  });

  it('records a failure that may clear, tried again inside the invocation, as ImagesRetried and the copy that followed as the outcome', async () => {
    // Four 503s use up the registry client's own retries of the HEAD: the worker's first attempt fails, its second copies.
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 4, status: 503 }] });
    try {
      const handler = await loadHandler({ ...workerEnv(), RETRY_DELAY_SECONDS: '1' });
      const source = `${proxy.host}/${ns}/app:1`;
      const { value, error, lines } = await captureJsonLines(() => handler({ source, runId: '2026-12-03T10:00:00Z/3f2a9c1e' }, lambdaContext('worker')));
      expect(error).toBeUndefined();
      expect(value).toMatchObject({ status: 'copied', digest: index.index.digest });
      const retried = lines.filter((line) => line.message === 'image retried');
      expect(retried).toHaveLength(1);
      expect(retried[0]).toMatchObject({ level: 'WARN', source, attempt: 1, attempts: 3, runId: '2026-12-03T10:00:00Z/3f2a9c1e' });
      expect(String(retried[0]?.error)).toContain(`looking up source "${source}"`);
      expect(lines.find((line) => line.message === 'image copied')).toMatchObject({ runId: '2026-12-03T10:00:00Z/3f2a9c1e', cold_start: expect.any(Boolean), function_request_id: expect.any(String) });
      const metrics = Object.assign({}, ...emfMetrics(lines)) as Record<string, unknown>;
      expect(metrics).toMatchObject({ [METRIC.retried]: 1, [METRIC.copied]: 1 });
      expect(metrics[METRIC.failed]).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('returns the last attempt\'s failure as ImagesFailed, without throwing: Lambda would only run it again and count it again', async () => {
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ times: 100, status: 503 }] });
    try {
      const handler = await loadHandler({ ...workerEnv(), MAX_ATTEMPTS: '2', RETRY_DELAY_SECONDS: '1' });
      const { value, error, lines } = await captureJsonLines(() => handler({ source: `${proxy.host}/${ns}/app:1` }, lambdaContext('worker')));
      expect(error).toBeUndefined();
      expect(value).toMatchObject({ status: 'failed', retryable: true });
      expect(value?.error).toContain(`looking up source "${proxy.host}/${ns}/app:1"`);
      expect(lines.filter((line) => line.message === 'image retried')).toHaveLength(1);
      expect(lines.filter((line) => line.message === 'image failed')).toEqual([expect.objectContaining({ attempt: 2, attempts: 2 })]);
      const metrics = Object.assign({}, ...emfMetrics(lines)) as Record<string, unknown>;
      expect(metrics).toMatchObject({ [METRIC.retried]: 1, [METRIC.failed]: 1 });
    } finally {
      await proxy.close();
    }
  });

  it('ends a lookup that hangs at the invocation\'s deadline and records why, before Lambda\'s own timeout', async () => {
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 100, action: 'stall' }] });
    try {
      const handler = await loadHandler(workerEnv());
      const started = Date.now();
      // 18 s left: the 15 s margin makes the deadline 3 s away, well before the client's own 30 s per request.
      const { value, error, lines } = await captureJsonLines(() => handler({ source: `${proxy.host}/${ns}/app:1` }, lambdaContext('worker', 18_000)));
      expect(error).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(18_000);
      expect(value).toMatchObject({ status: 'failed', retryable: false });
      expect(value?.error).toMatch(/mirroring ".*\/app:1": stopped at the invocation's deadline, \d+ s after it started/);
      expect(lines.find((line) => line.message === 'image failed')).toBeDefined();
    } finally {
      await proxy.close();
    }
  });

  it('reports a copy that outlasts its time as too large for the worker, not retried', async () => {
    // Blobs never come: crane runs into its limit (1 s here, 840 s on AWS) like an image too large for 15 minutes.
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/huge`, '1');
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ path: /\/blobs\//, times: 1000, action: 'stall' }] });
    try {
      const handler = await loadHandler({ ...workerEnv(), COPY_TIMEOUT_SECONDS: '1', RETRY_DELAY_SECONDS: '1' });
      // 22 s left: 7 s to the deadline, so that after the 1 s copy less than another 1 s (beyond the 5 s kept to start
      // one) is left, as after 840 s of the 885 s on AWS.
      const { value, error, lines } = await captureJsonLines(() => handler({ source: `${proxy.host}/${ns}/huge:1` }, lambdaContext('worker', 22_000)));
      expect(error).toBeUndefined();
      expect(value).toMatchObject({ status: 'failed', retryable: false, digest: pushed.digest });
      expect(value?.error).toContain('crane copy timed out after 1 s');
      // One crane run: a copy that used all of its time is not run again, inside the copy or by another attempt.
      expect(value?.error).not.toContain('(after');
      // Its size, from one manifest GET: this source has no pull budget to spend.
      expect(value?.error).toMatch(/\(the image is \d+ bytes\)/);
      expect(value?.error).toContain('too large or too slow to copy within one worker invocation');
      expect(lines.some((line) => line.message === 'image retried')).toBe(false);
      expect(lines.find((line) => line.message === 'image failed')).toMatchObject({ attempt: 1, attempts: 3 });
    } finally {
      await proxy.close();
    }
  });

  it('records a copy it had no time left to start as a failure, stopped before the Lambda deadline instead of killed mid-copy', async () => {
    const handler = await loadHandler(workerEnv());
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/late`, '1');
    // 18 s left: the 15 s margin leaves 3 s, less than the 5 s a copy needs to start.
    const { value, error, lines } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/late:1` }, lambdaContext('worker', 18_000)));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ status: 'failed' });
    expect(value?.error).toMatch(/stopped, [0-3] s left before the deadline is too little to copy safely/);
    expect(lines.find((line) => line.message === 'image failed')).toBeDefined();
    expect(await manifestDigest(target, targetRepo('late'), '1')).toBeUndefined();
    expect(pushed.digest).toMatch(/^sha256:/);
  });

  it('defers an image whose copy would take the source below the pull reserve: returned, not thrown, counted, never a failure', async () => {
    // A Docker Hub-like source with 21 pulls left: the default reserve of 20 leaves 1, and the index needs 3.
    const hub = await startDockerHub({ backend: s.sourceRegistry, limit: 100, remaining: 21 });
    try {
      const handler = await loadHandler(workerEnv());
      const { value, error, lines } = await captureJsonLines(() => handler({ source: `${hub.host}/${ns}/app:1` }, lambdaContext('worker')));
      expect(error).toBeUndefined();
      expect(value).toMatchObject({ status: 'deferred', retryable: false, budget: { limit: 100, remaining: 21, windowSeconds: 21_600, source: '192.0.2.1' } });
      expect(hub.manifestGets).toBe(0);
      expect(lines.find((line) => line.message === 'image deferred')).toMatchObject({ level: 'WARN', source: `${hub.host}/${ns}/app:1`, pullBudget: { remaining: 21 } });
      const metrics = emfMetrics(lines);
      expect(metrics.find((line) => METRIC.deferred in line)).toMatchObject({ [METRIC.deferred]: 1 });
      expect(metrics.some((line) => METRIC.failed in line)).toBe(false);
      // The budget per source registry, its own dimension beside the service's.
      const budget = metrics.find((line) => METRIC.sourcePullsRemaining in line);
      expect(budget).toMatchObject({ [METRIC.sourcePullsRemaining]: 21, SourceRegistry: hub.host });
      const directive = (budget?._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] }).CloudWatchMetrics[0];
      expect(directive?.Dimensions).toEqual([['service', 'SourceRegistry']]);
    } finally {
      await hub.close();
    }
  });

  it('fails the cold start listing every configuration problem', async () => {
    const failure = loadHandler({ TARGET: '', COPY_TIMEOUT_SECONDS: 'soon', PLATFORMS: 'linux' });
    await expect(failure).rejects.toThrow('invalid worker configuration: TARGET is required; ');
    await expect(failure).rejects.toThrow('COPY_TIMEOUT_SECONDS must be a whole number from 1 to 900, got "soon"');
    await expect(failure).rejects.toThrow('PLATFORMS: invalid platform "linux"');
  });
});
