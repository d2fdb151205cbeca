import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseImageReference } from '../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../shared/image-ref/target.ts';
import type { MirrorJob } from '../../shared/plan/plan.ts';
import type { Report } from '../../shared/plan/report.ts';
import { mirrorImage } from '../../shared/sync/mirror-image.ts';
import { COPY_RETRY } from '../../shared/retry.ts';
import { createSyncDeps } from '../../shared/wiring/sync.ts';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { type Fault, type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { stack, uniqueName } from '../support/stack.ts';

describe('faults injected between image-mirror and real registries', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const targetCredentials = new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]]);
  const proxies: FaultProxy[] = [];
  const fast = { copyRetry: { ...COPY_RETRY, baseDelayMs: 20 } };

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  async function sourceBehindProxy(faults: Fault[], layerBytes = 256 * 1024) {
    const ns = uniqueName('fault');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1', { layers: 2, layerBytes });
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults });
    proxies.push(proxy);
    const base = parseTargetBase(`${s.targetRegistry}/${ns}`);
    const source = parseImageReference(`${proxy.host}/${ns}/app:1`);
    const job: MirrorJob = { source, target: targetFor(source, base), files: ['Dockerfile'] };
    return { ns, pushed, proxy, job, base };
  }

  const depsFor = (base: ReturnType<typeof parseTargetBase>, copyTimeoutMs = 60_000) =>
    createSyncDeps({ target: base, ecr: false, crane: s.crane, copyTimeoutMs, credentials: targetCredentials, retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 2_000, budgetMs: 10_000 } });

  it('copies after the source answers 429 with Retry-After to the manifest pulls, crane giving up on each', async () => {
    const { pushed, proxy, job, base } = await sourceBehindProxy([{ method: 'GET', path: /\/manifests\//, times: 2, status: 429, headers: { 'retry-after': '1' } }]);
    expect(await mirrorImage(job, depsFor(base), fast)).toMatchObject({ status: 'copied', digest: pushed.digest });
    expect(proxy.log.filter((e) => e.method === 'GET' && e.path.includes('/manifests/')).map((e) => e.status)).toEqual([429, 429, 200]);
    expect(await manifestDigest(target, job.target!.repository, '1')).toBe(pushed.digest);
  });

  it('gives up after bounded attempts, saying what it was doing, retryable, with nothing tagged', async () => {
    const { proxy, job, base } = await sourceBehindProxy([{ method: 'GET', path: /\/manifests\//, times: 100, status: 429 }]);
    const failure = mirrorImage(job, depsFor(base), fast);
    await expect(failure).rejects.toThrow(/^copying "127\.0\.0\.1:\d+\/fault-[a-z0-9]+\/app@sha256:[0-9a-f]{64}" to ".*:1": crane copy failed: .*429.* \(after 3 attempts\)$/);
    await expect(failure).rejects.toMatchObject({ retryable: true });
    expect(proxy.log.filter((e) => e.method === 'GET' && e.path.includes('/manifests/'))).toHaveLength(3);
    expect(await manifestDigest(target, job.target!.repository, '1')).toBeUndefined();
  });

  it('copies after a connection reset in the middle of a blob', async () => {
    const { pushed, job, base, proxy } = await sourceBehindProxy([{ method: 'GET', path: /\/blobs\/sha256:/, times: 1, action: 'reset', afterBytes: 64 * 1024 }], 1024 * 1024);
    expect(await mirrorImage(job, depsFor(base), fast)).toMatchObject({ status: 'copied', digest: pushed.digest });
    expect(proxy.log.filter((e) => e.path.includes('/blobs/')).length).toBeGreaterThan(3);
    expect(await manifestDigest(target, job.target!.repository, '1')).toBe(pushed.digest);
  });

  it('never moves the target tag when every attempt is cut mid-blob, and says so as retryable', async () => {
    const { job, base } = await sourceBehindProxy([{ method: 'GET', path: /\/blobs\/sha256:/, times: 1_000, action: 'reset', afterBytes: 64 * 1024 }], 1024 * 1024);
    const failure = mirrorImage(job, depsFor(base), { copyRetry: { ...fast.copyRetry, attempts: 2 } });
    await expect(failure).rejects.toMatchObject({ retryable: true });
    await expect(failure).rejects.toThrow('(after 2 attempts)');
    expect(await manifestDigest(target, job.target!.repository, '1')).toBeUndefined();
  });

  it('kills a copy stalled on a blob at its time limit and copies on the next attempt', async () => {
    const { pushed, proxy, job, base } = await sourceBehindProxy([{ method: 'GET', path: /\/blobs\/sha256:/, times: 1, action: 'stall' }]);
    const started = Date.now();
    expect(await mirrorImage(job, depsFor(base, 3_000), fast)).toMatchObject({ status: 'copied', digest: pushed.digest });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(proxy.log.some((e) => e.status === 0)).toBe(true);
    expect(await manifestDigest(target, job.target!.repository, '1')).toBe(pushed.digest);
  });

  it('fetches a fresh ECR token when the registry refuses the cached one, for lookups and for the copy', async () => {
    const ns = uniqueName('expired');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    // The target registry refuses the first authenticated HEAD and the first authenticated manifest PUT, as with an expired token.
    const proxy = await startFaultProxy({
      upstream: s.targetRegistry,
      faults: [
        { method: 'HEAD', times: 1, status: 401, whenAuthorized: true, headers: { 'www-authenticate': 'Basic realm="ecr"' } },
        { method: 'PUT', path: /\/manifests\//, times: 1, status: 401, whenAuthorized: true, headers: { 'www-authenticate': 'Basic realm="ecr"' } },
      ],
    });
    proxies.push(proxy);
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL: s.awsEndpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
    const tokenCalls = vi.spyOn(ECRClient.prototype, 'send');
    try {
      const base = parseTargetBase(`${proxy.host}/${ns}`);
      const deps = createSyncDeps({ target: base, ecr: true, region: 'us-east-1', crane: s.crane, copyTimeoutMs: 60_000, credentials: new Map() });
      const source = parseImageReference(`${s.sourceRegistry}/${ns}/app:1`);
      const job = { source, target: targetFor(source, base), files: ['Dockerfile'] };
      expect(await mirrorImage(job, deps, fast)).toMatchObject({ status: 'copied', digest: pushed.digest });
      const fetched = tokenCalls.mock.calls.filter(([command]) => command instanceof GetAuthorizationTokenCommand);
      expect(fetched.length).toBeGreaterThanOrEqual(3);
      expect(proxy.log.filter((e) => e.status === 401 && e.authorization !== undefined).map((e) => e.method)).toEqual(['HEAD', 'PUT']);
      expect(await manifestDigest(target, job.target.repository, '1')).toBe(pushed.digest);
    } finally {
      tokenCalls.mockRestore();
      process.env = saved;
    }
  });
});

describe('mirror sync with one registry streaming a body that never ends, beside healthy ones', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const proxies: FaultProxy[] = [];

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  /** Runs `mirror sync --json` over a tree of one Dockerfile per source; the report, its results by repository name, the target repositories. */
  async function sync(ns: string, sources: Record<string, string>, ...extra: string[]) {
    const images = await writeImagesTree(Object.fromEntries(Object.values(sources).map((source) => [`${source.replace(/:[^:/]+$/, '')}/Dockerfile`, `FROM ${source}\n`])));
    const credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/mirror-${ns}`, '--credentials', credentials, '--json', ...extra], { CRANE: s.crane });
    const report = JSON.parse(run.stdout) as Report;
    const results = new Map(report.results.map((result) => [result.source.replace(/^.*\/([^/]+):[^:/]+$/, '$1'), result]));
    return { run, report, results, targetRepo: (source: string) => `mirror-${ns}/${source.replace(':', '-').replace(/:[^:/]+$/, '')}` };
  }

  it('copies the others and fails the image whose token endpoint never stops sending, saying so with the cap', async () => {
    const ns = uniqueName('endless-token');
    const good = await pushImage({ registry: s.sourceRegistry }, `${ns}/good`, '1');
    const alsoGood = await pushImage({ registry: s.sourceRegistry }, `${ns}/also-good`, '1');
    await pushImage({ registry: s.sourceRegistry }, `${ns}/bad`, '1');
    // The bad image's registry asks for a Bearer token, as Docker Hub does; its token endpoint streams forever.
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, bearer: { token: 'tok-endless' }, faults: [{ path: /^\/token$/, times: 10, action: 'endless' }] });
    proxies.push(proxy);
    const sources = { good: `${s.sourceRegistry}/${ns}/good:1`, alsoGood: `${s.sourceRegistry}/${ns}/also-good:1`, bad: `${proxy.host}/${ns}/bad:1` };

    const { run, report, results, targetRepo } = await sync(ns, sources);

    expect(run.code, run.stderr).toBe(1);
    expect(report.summary).toMatchObject({ planned: 3, copied: 2, failed: 1 });
    expect(results.get('good')).toMatchObject({ status: 'copied', digest: good.digest });
    expect(results.get('also-good')).toMatchObject({ status: 'copied', digest: alsoGood.digest });
    expect(await manifestDigest(target, targetRepo(sources.good), '1')).toBe(good.digest);
    expect(await manifestDigest(target, targetRepo(sources.alsoGood), '1')).toBe(alsoGood.digest);
    const bad = results.get('bad');
    expect(bad?.status).toBe('failed');
    expect(bad?.error).toMatch(/^looking up source /);
    expect(bad?.error).toContain(
      `HEAD http://${proxy.host}/v2/${ns}/bad/manifests/1: fetching a token from http://${proxy.host}/token: the token answer is larger than 1 MiB, far more than any token needs: not read`,
    );
    // Asked once, not retried, and the client hung up.
    const tokenRequests = proxy.log.filter((entry) => entry.path.startsWith('/token'));
    expect(tokenRequests).toHaveLength(1);
    await vi.waitFor(() => expect(tokenRequests[0]?.sentBeforeHangUp).toBeDefined());
    expect(await manifestDigest(target, targetRepo(sources.bad), '1')).toBeUndefined();
  });

  it('copies the others and fails the index whose manifest GET never ends (--platform reads the index), saying so with the cap', async () => {
    const ns = uniqueName('endless-manifest');
    const good = await pushIndex({ registry: s.sourceRegistry }, `${ns}/good`, '1', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    const bad = await pushIndex({ registry: s.sourceRegistry }, `${ns}/bad`, '1', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    // HEADs pass to the real registry; every manifest GET gets a body that never ends.
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'GET', path: /\/manifests\//, times: 10, action: 'endless' }] });
    proxies.push(proxy);
    const sources = { good: `${s.sourceRegistry}/${ns}/good:1`, bad: `${proxy.host}/${ns}/bad:1` };
    const amd64 = good.children.find((child) => child.platform?.architecture === 'amd64')?.digest as string;

    const { run, report, results, targetRepo } = await sync(ns, sources, '--platform', 'linux/amd64');

    expect(run.code, run.stderr).toBe(1);
    expect(report.summary).toMatchObject({ planned: 2, copied: 1, failed: 1 });
    expect(results.get('good')).toMatchObject({ status: 'copied', digest: good.index.digest });
    expect(await manifestDigest(target, targetRepo(sources.good), amd64)).toBe(amd64);
    expect(await manifestDigest(target, targetRepo(sources.good), '1')).toBeDefined();
    const failed = results.get('bad');
    expect(failed?.status).toBe('failed');
    expect(failed?.error).toMatch(/^reading the source index /);
    expect(failed?.error).toContain(`GET http://${proxy.host}/v2/${ns}/bad/manifests/${bad.index.digest}: the manifest is larger than 4 MiB, the most a registry accepts: not read`);
    const gets = proxy.log.filter((entry) => entry.method === 'GET' && entry.path.includes('/manifests/'));
    expect(gets).toHaveLength(1);
    await vi.waitFor(() => expect(gets[0]?.sentBeforeHangUp).toBeDefined());
    expect(await manifestDigest(target, targetRepo(sources.bad), '1')).toBeUndefined();
  });
});
