import { describe, expect, it } from 'vitest';
import { RateLimitedError, RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../../shared/registry/http-registry.ts';
import type { RetryPolicy } from '../../../shared/retry.ts';
import { pushImage, pushIndex } from '../../../scripts/lib/oci-seed.ts';
import { startFaultProxy } from '../../support/fault-proxy.ts';
import { stack, uniqueName } from '../../support/stack.ts';

const fastRetry: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5_000, budgetMs: 10_000 };
const anonymous = () => new HttpRegistryClient({ credentials: new StaticCredentialProvider(), retry: fastRetry });

describe('HttpRegistryClient against docker-registry', () => {
  it('finds the digest of an OCI index, a Docker manifest list and single images by HEAD', async () => {
    const s = stack();
    const ns = uniqueName('head');
    const oci = await pushIndex({ registry: s.sourceRegistry }, `${ns}/oci`, 'v1', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    const docker = await pushIndex({ registry: s.sourceRegistry }, `${ns}/docker`, 'v1', ['linux/amd64', 'linux/arm/v7'], { format: 'docker' });
    const single = await pushImage({ registry: s.sourceRegistry }, `${ns}/single`, 'v1', { format: 'docker' });
    const client = anonymous();
    expect((await client.headManifest(parseImageReference(`${s.sourceRegistry}/${ns}/oci:v1`)))?.digest).toBe(oci.index.digest);
    expect((await client.headManifest(parseImageReference(`${s.sourceRegistry}/${ns}/docker:v1`)))?.digest).toBe(docker.index.digest);
    expect((await client.headManifest(parseImageReference(`${s.sourceRegistry}/${ns}/single:v1`)))?.digest).toBe(single.digest);
    expect((await client.headManifest(parseImageReference(`${s.sourceRegistry}/${ns}/oci@${oci.children[1]?.digest}`)))?.digest).toBe(oci.children[1]?.digest);
  });

  it('answers undefined for a missing tag or repository', async () => {
    const s = stack();
    expect(await anonymous().headManifest(parseImageReference(`${s.sourceRegistry}/${uniqueName('none')}/x:1`))).toBeUndefined();
  });

  it('authenticates with Basic credentials where the registry asks for them', async () => {
    const s = stack();
    const ns = uniqueName('basic');
    const pushed = await pushImage({ registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } }, `${ns}/x`, '1');
    const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]])), retry: fastRetry });
    expect((await client.headManifest(parseImageReference(`${s.targetRegistry}/${ns}/x:1`)))?.digest).toBe(pushed.digest);
  });

  it('says which registry wants credentials when none are configured', async () => {
    const s = stack();
    await expect(anonymous().headManifest(parseImageReference(`${s.targetRegistry}/x/y:1`))).rejects.toThrow(`401 Unauthorized and no credentials are configured for ${s.targetRegistry}`);
  });

  it('reports rejected credentials with the request that failed', async () => {
    const s = stack();
    const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(new Map([[s.targetRegistry, { username: 'AWS', password: 'wrong' }]])), retry: fastRetry });
    const failure = client.headManifest(parseImageReference(`${s.targetRegistry}/x/y:1`));
    await expect(failure).rejects.toThrow(RegistryRequestError);
    await expect(failure).rejects.toThrow(`HEAD http://${s.targetRegistry}/v2/x/y/manifests/1: 401 Unauthorized`);
  });
});

describe('HttpRegistryClient through a fault-injecting proxy', () => {
  it('follows the Bearer token flow, sending the credentials only to the token endpoint', async () => {
    const s = stack();
    const ns = uniqueName('bearer');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/x`, '1');
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, bearer: { token: 'tok-123', username: 'alice', password: 'pw' } });
    try {
      const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(new Map([[proxy.host, { username: 'alice', password: 'pw' }]])), retry: fastRetry });
      expect((await client.headManifest(parseImageReference(`${proxy.host}/${ns}/x:1`)))?.digest).toBe(pushed.digest);
      expect((await client.headManifest(parseImageReference(`${proxy.host}/${ns}/x:1`)))?.digest).toBe(pushed.digest);
      expect(proxy.log.map((entry) => `${entry.method} ${entry.path.replace(/\?.*/, '')} ${entry.status}`)).toEqual([
        `HEAD /v2/${ns}/x/manifests/1 401`,
        'GET /token 200',
        `HEAD /v2/${ns}/x/manifests/1 200`,
        `HEAD /v2/${ns}/x/manifests/1 200`,
      ]);
      expect(proxy.log[1]?.path).toContain(`scope=repository%3A${ns}%2Fx%3Apull`);
    } finally {
      await proxy.close();
    }
  });

  it('waits out a 429 with Retry-After, then succeeds', async () => {
    const s = stack();
    const ns = uniqueName('retry');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/x`, '1');
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 2, status: 429, headers: { 'retry-after': '0' } }] });
    try {
      expect((await anonymous().headManifest(parseImageReference(`${proxy.host}/${ns}/x:1`)))?.digest).toBe(pushed.digest);
      expect(proxy.log.map((entry) => entry.status)).toEqual([429, 429, 200]);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after the bounded attempts with a retryable rate-limit error', async () => {
    const s = stack();
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 10, status: 429 }] });
    try {
      const failure = anonymous().headManifest(parseImageReference(`${proxy.host}/x/y:1`));
      await expect(failure).rejects.toThrow(RateLimitedError);
      await expect(failure).rejects.toMatchObject({ retryable: true, status: 429 });
      await expect(failure).rejects.toThrow(`HEAD http://${proxy.host}/v2/x/y/manifests/1: 429 Too Many Requests (after 3 attempts)`);
      expect(proxy.log).toHaveLength(3);
    } finally {
      await proxy.close();
    }
  });

  it('does not retry a Retry-After longer than it may wait', async () => {
    const s = stack();
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 10, status: 429, headers: { 'retry-after': '3600' } }] });
    try {
      await expect(anonymous().headManifest(parseImageReference(`${proxy.host}/x/y:1`))).rejects.toThrow('after 1 attempt');
      expect(proxy.log).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('retries a 503 and treats a 404 as absent', async () => {
    const s = stack();
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 1, status: 503 }] });
    try {
      expect(await anonymous().headManifest(parseImageReference(`${proxy.host}/${uniqueName('none')}/y:1`))).toBeUndefined();
      expect(proxy.log.map((entry) => entry.status)).toEqual([503, 404]);
    } finally {
      await proxy.close();
    }
  });
});
