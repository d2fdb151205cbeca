import { describe, expect, it } from 'vitest';
import { RateLimitedError, RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../../shared/registry/http-registry.ts';
import type { RetryPolicy } from '../../../shared/retry.ts';
import { pushImage, pushIndex } from '../../../scripts/lib/oci-seed.ts';
import { startFaultProxy } from '../../support/fault-proxy.ts';
import { stack, uniqueName } from '../../support/stack.ts';
import { startRedirectingRegistry } from '../../support/upstreams/redirecting-registry.ts';
import { startTokenRegistry } from '../../support/upstreams/token-registry.ts';
import { startTlsRegistry } from '../../support/tls-registry.ts';
import { cleanedAfterEach } from '../../support/upstreams/cleanup.ts';

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

describe('HttpRegistryClient against upstreams that behave as real ones do', () => {
  const { started } = cleanedAfterEach();

  it('follows a registry.k8s.io-style 307 to a backend of another origin that wants its own token, never sending it the front token', async () => {
    const s = stack();
    const ns = uniqueName('redirect');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/x`, '1');
    const backend = started(await startTokenRegistry({ upstream: s.sourceRegistry, hostname: 'localhost', service: 'backend' }));
    const front = started(await startRedirectingRegistry({ backend: `http://${backend.host}`, token: true }));
    const client = anonymous();

    expect(await client.headManifest(parseImageReference(`${front.host}/${ns}/x:1`))).toMatchObject({ digest: pushed.digest });
    expect((await client.getManifest(parseImageReference(`${front.host}/${ns}/x:1`)))?.digest).toBe(pushed.digest);
    expect((await client.getManifest(parseImageReference(`${front.host}/${ns}/x@${pushed.digest}`)))?.digest).toBe(pushed.digest);

    // One token from each origin, each sent only to its own origin.
    expect(front.tokens).toHaveLength(1);
    expect(backend.tokens).toHaveLength(1);
    expect(new Set(front.log.flatMap((entry) => entry.authorization ?? []))).toEqual(new Set([`Bearer ${front.tokens[0]}`]));
    expect(new Set(backend.log.flatMap((entry) => entry.authorization ?? []))).toEqual(new Set([`Bearer ${backend.tokens[0]}`]));
    expect(backend.log.filter((entry) => entry.path.startsWith('/v2/')).map((entry) => `${entry.method} ${entry.status}`)).toEqual(['HEAD 401', 'HEAD 200', 'GET 200', 'GET 200']);
  });

  it('reads a GHCR-style registry that wants an anonymous token even for public images', async () => {
    const s = stack();
    const ns = uniqueName('ghcr');
    const pushed = await pushIndex({ registry: s.sourceRegistry }, `${ns}/x`, '1', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    const ghcr = started(await startTokenRegistry({ upstream: s.sourceRegistry }));
    const client = anonymous();
    expect(await client.headManifest(parseImageReference(`${ghcr.host}/${ns}/x:1`))).toMatchObject({ digest: pushed.index.digest, mediaType: 'application/vnd.oci.image.index.v1+json' });
    expect((await client.getManifest(parseImageReference(`${ghcr.host}/${ns}/x:1`)))?.json.manifests).toHaveLength(2);
    const tokenRequests = ghcr.log.filter((entry) => entry.path.startsWith('/token'));
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]?.authorization).toBeUndefined();
    expect(new URL(tokenRequests[0]?.path ?? '', 'http://x').searchParams.get('service')).toBe('ghcr.io');
  });

  it('asks a registry whose HEADs answer 405 by GET, counting the pull, and by GET only from then on', async () => {
    const s = stack();
    const ns = uniqueName('nohead');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/x`, '1');
    const proxy = started(await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'HEAD', times: 100, status: 405 }] }));
    const client = anonymous();
    expect(await client.headManifest(parseImageReference(`${proxy.host}/${ns}/x:1`))).toMatchObject({ digest: pushed.digest, pullsSpent: 1 });
    expect(await client.headManifest(parseImageReference(`${proxy.host}/${ns}/x:1`))).toMatchObject({ digest: pushed.digest, pullsSpent: 1 });
    expect(proxy.log.map((entry) => `${entry.method} ${entry.status}`)).toEqual(['HEAD 405', 'GET 200', 'GET 200']);
  });
});

describe('HttpRegistryClient finding the scheme of a TLS registry on 127.0.0.1 (httpsFirst)', () => {
  it('keeps HTTPS and fails clearly, with no plain-HTTP try and no retry, when the certificate is not trusted', async () => {
    const registry = await startTlsRegistry();
    try {
      const urls: string[] = [];
      const fetch = ((input: string | URL | Request, init?: RequestInit) => {
        urls.push(String(input));
        return globalThis.fetch(input, init);
      }) as typeof globalThis.fetch;
      const sleeps: number[] = [];
      const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(), httpsFirst: true, fetch, sleep: async (ms) => void sleeps.push(ms) });
      for (const name of ['a', 'b']) {
        const error = await client.headManifest(parseImageReference(`${registry.host}/team/${name}:1`)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RegistryRequestError);
        expect(error).toMatchObject({ retryable: false });
        const message = (error as Error).message;
        expect(message.startsWith(`HEAD https://${registry.host}/v2/team/${name}/manifests/1: `)).toBe(true);
        expect(message.endsWith("(the registry's certificate is not trusted: give its CA bundle in SSL_CERT_FILE)")).toBe(true);
      }
      expect(urls).toEqual([`https://${registry.host}/v2/team/a/manifests/1`, `https://${registry.host}/v2/team/b/manifests/1`]);
      expect(sleeps).toEqual([]);
    } finally {
      await registry.close();
    }
  });
});
