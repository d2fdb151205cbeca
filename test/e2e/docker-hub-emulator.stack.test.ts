import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type Descriptor, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { type DockerHubEmulator, type DockerHubOptions, startDockerHub, TOO_MANY_REQUESTS_BODY } from '../support/docker-hub.ts';
import { run, stack, uniqueName } from '../support/stack.ts';
import { cleanedAfterEach } from '../support/upstreams/cleanup.ts';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

describe('the Docker Hub emulator, with the real crane', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const ns = uniqueName('hub');
  const single = `${ns}/single`;
  const multi = `${ns}/multi`;
  const { started } = cleanedAfterEach();
  let image: Descriptor;
  let indexEntries: number;
  let layers: { digest: string; size: number }[];
  let work: string;

  beforeAll(async () => {
    image = await pushImage(source, single, '1', { layers: 2, layerBytes: 64 * 1024 });
    await pushIndex(source, multi, '1', ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
    // What an index copy costs follows from the index as the registry serves it.
    const index = (await (await fetch(`http://${s.sourceRegistry}/v2/${multi}/manifests/1`, { headers: { accept: MANIFEST_TYPES } })).json()) as { manifests: unknown[] };
    indexEntries = index.manifests.length;
    layers = ((await (await fetch(`http://${s.sourceRegistry}/v2/${single}/manifests/1`, { headers: { accept: MANIFEST_TYPES } })).json()) as { layers: typeof layers }).layers;
    work = await mkdtemp(join(tmpdir(), 'docker-hub-test-'));
  });


  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function startHub(options: Omit<DockerHubOptions, 'backend'> = {}): Promise<DockerHubEmulator> {
    return started(await startDockerHub({ backend: s.sourceRegistry, ...options }));
  }

  // crane with its own Docker config: the target's login, and whatever else a test gives it (none of the machine's).
  async function crane(args: string[], logins: ReadonlyMap<string, { username: string; password: string }> = new Map()) {
    const dir = await mkdtemp(join(work, 'config-'));
    const auths = Object.fromEntries(
      [[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }] as const, ...logins].map(([registry, login]) => [registry, { auth: Buffer.from(`${login.username}:${login.password}`).toString('base64') }]),
    );
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
    return run(s.crane, args, { env: { ...process.env, DOCKER_CONFIG: dir } });
  }

  async function tokenFor(hub: DockerHubEmulator, scope: string, headers: Record<string, string> = {}): Promise<string> {
    const response = await fetch(`${hub.tokenOrigin}/token?service=registry.docker.io&scope=${encodeURIComponent(scope)}`, { headers });
    expect(response.status).toBe(200);
    return ((await response.json()) as { token: string }).token;
  }

  function manifest(hub: DockerHubEmulator, repository: string, method: 'GET' | 'HEAD', token: string, reference = '1') {
    return fetch(`http://${hub.host}/v2/${repository}/manifests/${reference}`, { method, headers: { accept: MANIFEST_TYPES, authorization: `Bearer ${token}` } });
  }

  const rateLimit = (response: Response) => ({
    limit: response.headers.get('ratelimit-limit'),
    remaining: response.headers.get('ratelimit-remaining'),
    source: response.headers.get('docker-ratelimit-source'),
  });

  describe('token flow', () => {
    it('challenges unauthenticated requests with a realm on another origin, the scope only for a repository', async () => {
      const hub = await startHub();
      const base = await fetch(`http://${hub.host}/v2/`);
      expect(base.status).toBe(401);
      expect(base.headers.get('www-authenticate')).toBe(`Bearer realm="${hub.tokenOrigin}/token",service="registry.docker.io"`);
      const repository = await fetch(`http://${hub.host}/v2/${single}/manifests/1`, { method: 'HEAD' });
      expect(repository.status).toBe(401);
      expect(repository.headers.get('www-authenticate')).toBe(`Bearer realm="${hub.tokenOrigin}/token",service="registry.docker.io",scope="repository:${single}:pull"`);
      const blob = await fetch(`http://${hub.host}/v2/${single}/blobs/${image.digest}`);
      expect(blob.status).toBe(401);
      const registry = new URL(`http://${hub.host}`);
      const realm = new URL(hub.tokenOrigin);
      expect(realm.hostname).not.toBe(registry.hostname);
      expect(realm.port).not.toBe(registry.port);
      expect(hub.manifestHeads + hub.manifestGets).toBe(0);
    });

    it('issues an anonymous token in Docker Hub\'s shape that opens only the repository of its scope', async () => {
      const hub = await startHub();
      const response = await fetch(`${hub.tokenOrigin}/token?service=registry.docker.io&scope=repository:${single}:pull`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      expect(body).toEqual({ token: expect.any(String), access_token: body.token, expires_in: 300, issued_at: new Date(body.issued_at).toISOString() });

      expect((await fetch(`http://${hub.host}/v2/`, { headers: { authorization: `Bearer ${body.token}` } })).status).toBe(200);
      expect((await manifest(hub, single, 'HEAD', body.token)).status).toBe(200);
      const other = await manifest(hub, multi, 'HEAD', body.token);
      expect(other.status).toBe(401);
      expect(other.headers.get('www-authenticate')).toBe(`Bearer realm="${hub.tokenOrigin}/token",service="registry.docker.io",scope="repository:${multi}:pull",error="insufficient_scope"`);
      expect((await manifest(hub, single, 'HEAD', 'forged')).status).toBe(401);
      expect(hub.tokenRequests).toBe(1);
    });

    it('refuses a token for another service or a malformed scope, and grants no push', async () => {
      const hub = await startHub();
      expect((await fetch(`${hub.tokenOrigin}/token?service=quay.io&scope=repository:${single}:pull`)).status).toBe(400);
      expect((await fetch(`${hub.tokenOrigin}/token?service=registry.docker.io&scope=repository:${single}`)).status).toBe(400);

      const pushOnly = await tokenFor(hub, `repository:${single}:push`);
      expect((await manifest(hub, single, 'GET', pushOnly)).status).toBe(401);
      const pullPush = await tokenFor(hub, `repository:${ns}/pushed:pull,push`);
      const upload = await fetch(`http://${hub.host}/v2/${ns}/pushed/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${pullPush}` } });
      expect(upload.status).toBe(401);
      expect(upload.headers.get('www-authenticate')).toContain(`scope="repository:${ns}/pushed:pull,push",error="insufficient_scope"`);
      const put = await fetch(`http://${hub.host}/v2/${ns}/pushed/manifests/1`, { method: 'PUT', headers: { authorization: `Bearer ${pullPush}`, 'content-type': image.mediaType }, body: '{}' });
      expect(put.status).toBe(401);
      expect((await fetch(`http://${hub.host}/v2/`, { method: 'POST', headers: { authorization: `Bearer ${pullPush}` } })).status).toBe(405);
      expect(await manifestDigest(source, `${ns}/pushed`, '1')).toBeUndefined();
      expect(hub.remaining).toBe(100);
    });

    it('issues tokens to configured users, refuses wrong credentials, and crane logs in through it', async () => {
      const hub = await startHub({ users: { alice: 's3cret' } });
      const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
      expect((await fetch(`${hub.tokenOrigin}/token?service=registry.docker.io&scope=repository:${single}:pull`, { headers: basic('alice', 'wrong') })).status).toBe(401);
      expect((await fetch(`${hub.tokenOrigin}/token?service=registry.docker.io&scope=repository:${single}:pull`, { headers: basic('mallory', 's3cret') })).status).toBe(401);
      const token = await tokenFor(hub, `repository:${single}:pull`, basic('alice', 's3cret'));
      expect((await manifest(hub, single, 'HEAD', token)).status).toBe(200);

      const { stdout } = await crane(['digest', `${hub.host}/${single}:1`], new Map([[hub.host, { username: 'alice', password: 's3cret' }]]));
      expect(stdout.trim()).toBe(image.digest);
      await expect(crane(['digest', `${hub.host}/${single}:1`], new Map([[hub.host, { username: 'alice', password: 'wrong' }]]))).rejects.toMatchObject({ stderr: expect.stringMatching(/401|UNAUTHORIZED|incorrect username or password/) });
    });
  });

  describe('pull budget', () => {
    it('shows the budget on a HEAD without spending it (crane digest)', async () => {
      const hub = await startHub();
      const { stdout } = await crane(['digest', `${hub.host}/${single}:1`]);
      expect(stdout.trim()).toBe(image.digest);
      expect(hub.manifestHeads).toBeGreaterThanOrEqual(1);
      expect(hub.manifestGets).toBe(0);
      expect(hub.remaining).toBe(100);

      const head = await manifest(hub, single, 'HEAD', await tokenFor(hub, `repository:${single}:pull`));
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
      expect(rateLimit(head)).toEqual({ limit: '100;w=21600', remaining: '100;w=21600', source: '192.0.2.1' });
    });

    it('spends one pull on a manifest GET, by tag or by digest (crane manifest)', async () => {
      const hub = await startHub({ limit: 10, windowSeconds: 3600, source: '203.0.113.7' });
      const { stdout } = await crane(['manifest', `${hub.host}/${single}:1`]);
      expect(createHash('sha256').update(stdout).digest('hex')).toBe(image.digest.slice('sha256:'.length));
      expect(hub.remaining).toBe(9);
      expect(hub.manifestGets).toBe(1);
      expect(hub.manifestGetsByRepository).toEqual({ [single]: 1 });

      const get = await manifest(hub, single, 'GET', await tokenFor(hub, `repository:${single}:pull`), image.digest);
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(image.mediaType);
      expect(get.headers.get('docker-content-digest')).toBe(image.digest);
      expect(rateLimit(get)).toEqual({ limit: '10;w=3600', remaining: '8;w=3600', source: '203.0.113.7' });
      expect(hub.manifestGets).toBe(2);
    });

    it('spends 1 pull on copying a single-platform image and 1 + its entries on copying an index (crane copy)', async () => {
      const hub = await startHub();
      await crane(['copy', `${hub.host}/${single}:1`, `${s.targetRegistry}/${single}:1`]);
      expect(100 - hub.remaining).toBe(1);
      expect(await manifestDigest(target, single, '1')).toBe(image.digest);

      await crane(['copy', `${hub.host}/${multi}:1`, `${s.targetRegistry}/${multi}:1`]);
      expect(hub.manifestGetsByRepository).toEqual({ [single]: 1, [multi]: 1 + indexEntries });
      expect(100 - hub.remaining).toBe(2 + indexEntries);
      expect(hub.tooManyRequests).toBe(0);

      hub.reset();
      expect([hub.remaining, hub.manifestGets, hub.manifestHeads, hub.tokenRequests, hub.manifestGetsByRepository]).toEqual([100, 0, 0, 0, {}]);
    });

    it('answers a manifest GET at zero with Docker Hub\'s 429, which crane\'s copy reports, while HEADs and blobs still pass', async () => {
      const hub = await startHub();
      hub.setRemaining(0);
      const token = await tokenFor(hub, `repository:${single}:pull`);
      const refused = await manifest(hub, single, 'GET', token);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toBe('application/json');
      expect(await refused.text()).toBe(TOO_MANY_REQUESTS_BODY);
      expect(rateLimit(refused)).toEqual({ limit: '100;w=21600', remaining: '0;w=21600', source: '192.0.2.1' });

      await expect(crane(['copy', `${hub.host}/${single}:1`, `${s.targetRegistry}/${ns}/refused:1`])).rejects.toMatchObject({ stderr: expect.stringContaining('TOOMANYREQUESTS') });
      expect(await manifestDigest(target, `${ns}/refused`, '1')).toBeUndefined();
      expect((await crane(['digest', `${hub.host}/${single}:1`])).stdout.trim()).toBe(image.digest);
      const blob = await fetch(`http://${hub.host}/v2/${single}/blobs/${layers[0]?.digest}`, { headers: { authorization: `Bearer ${token}` } });
      expect(blob.status).toBe(200);
      expect(blob.headers.get('docker-content-digest')).toBe(layers[0]?.digest);
      await blob.arrayBuffer();
      expect(hub.manifestGets).toBe(0);
      expect(hub.tooManyRequests).toBeGreaterThanOrEqual(2);
      expect(hub.remaining).toBe(0);
    });

    it('fails an index copy part-way when other clients have spent the pulls it needs', async () => {
      const hub = await startHub();
      hub.setRemaining(indexEntries);
      await expect(crane(['copy', `${hub.host}/${multi}:1`, `${s.targetRegistry}/${ns}/partial:1`])).rejects.toMatchObject({ stderr: expect.stringContaining('TOOMANYREQUESTS') });
      expect(hub.remaining).toBe(0);
      expect(hub.manifestGets).toBe(indexEntries);
      expect(hub.tooManyRequests).toBeGreaterThanOrEqual(1);
      expect(await manifestDigest(target, `${ns}/partial`, '1')).toBeUndefined();
    });

    it('sends no ratelimit headers and never refuses when unlimited', async () => {
      const hub = await startHub({ unlimited: true, limit: 1, remaining: 0 });
      await crane(['copy', `${hub.host}/${multi}:1`, `${s.targetRegistry}/${ns}/unlimited:1`]);
      const token = await tokenFor(hub, `repository:${multi}:pull`);
      for (const method of ['GET', 'HEAD'] as const) {
        const response = await manifest(hub, multi, method, token);
        expect(response.status).toBe(200);
        expect(rateLimit(response)).toEqual({ limit: null, remaining: null, source: null });
      }
      expect(hub.manifestGets).toBe(2 + indexEntries);
      expect(hub.tooManyRequests).toBe(0);
    });
  });

  describe('forwarding', () => {
    it('streams blobs with their headers and spends nothing on them', async () => {
      const hub = await startHub();
      const token = await tokenFor(hub, `repository:${single}:pull`);
      expect(layers).toHaveLength(2);
      for (const layer of layers) {
        const blob = await fetch(`http://${hub.host}/v2/${single}/blobs/${layer.digest}`, { headers: { authorization: `Bearer ${token}` } });
        expect(blob.status).toBe(200);
        expect(blob.headers.get('docker-content-digest')).toBe(layer.digest);
        expect(blob.headers.get('content-length')).toBe(String(layer.size));
        expect(`sha256:${createHash('sha256').update(Buffer.from(await blob.arrayBuffer())).digest('hex')}`).toBe(layer.digest);
      }
      expect(hub.remaining).toBe(100);
      expect(hub.manifestGets).toBe(0);
    });

    it('points a Location from the backend back at itself', async () => {
      const backend = createServer((req, res) => res.writeHead(307, { location: `http://${backendHost}/v2/x/blobs/moved${req.url?.endsWith('?q=1') ? '?q=1' : ''}` }).end());
      await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
      const backendHost = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
      try {
        const hub = started(await startDockerHub({ backend: backendHost }));
        const token = await tokenFor(hub, 'repository:x:pull');
        const moved = await fetch(`http://${hub.host}/v2/x/blobs/sha256:${'0'.repeat(64)}?q=1`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
        expect(moved.status).toBe(307);
        expect(moved.headers.get('location')).toBe(`http://${hub.host}/v2/x/blobs/moved?q=1`);
      } finally {
        backend.closeAllConnections();
        await new Promise<void>((resolve) => backend.close(() => resolve()));
      }
    });
  });
});
