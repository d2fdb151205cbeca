import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { run, stack, uniqueName } from '../support/stack.ts';
import { startRedirectingRegistry } from '../support/upstreams/redirecting-registry.ts';
import { syncSources, targetRepository } from '../support/upstreams/sync-run.ts';
import { startTokenRegistry } from '../support/upstreams/token-registry.ts';
import { cleanedAfterEach } from '../support/upstreams/cleanup.ts';

// registry.k8s.io answers every API request with a 307 to a regional backend on another origin (see
// test/support/upstreams/redirecting-registry.ts); the front is named `127.0.0.1:<port>`, the backend `localhost:<port>`.
describe('mirror sync from a registry that redirects every request to another origin, as registry.k8s.io does', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const { started, later } = cleanedAfterEach();

  /** Runs crane alone, with a Docker config of only `auths` (none by default), as a user would from a shell. */
  async function crane(args: readonly string[], auths: Record<string, { auth: string }> = {}) {
    const config = await mkdtemp(join(tmpdir(), 'upstreams-crane-'));
    later(() => rm(config, { recursive: true, force: true }));
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
    return run(s.crane, [...args], { env: { PATH: process.env.PATH ?? '', HOME: config, DOCKER_CONFIG: config } });
  }

  it('mirrors an index whose manifests and blobs are all 307-redirected to a backend that wants no token', async () => {
    const ns = uniqueName('k8s');
    const pushed = await pushIndex({ registry: s.sourceRegistry }, `${ns}/pause`, '3.10', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    const backend = started(await startFaultProxy({ upstream: s.sourceRegistry }));
    const front = started(await startRedirectingRegistry({ backend: `http://${backend.host.replace('127.0.0.1', 'localhost')}` }));
    const image = `${front.host}/${ns}/pause:3.10`;

    const first = await syncSources(ns, [image]);

    expect(first.run.code, first.run.stderr).toBe(0);
    expect(first.result(image)).toMatchObject({ status: 'copied', digest: pushed.index.digest });
    expect(await manifestDigest(target, targetRepository(ns, image), '3.10')).toBe(pushed.index.digest);
    for (const child of pushed.children) expect(await manifestDigest(target, targetRepository(ns, image), child.digest)).toBe(child.digest);
    // The front served nothing itself: manifests and blobs alike came from the backend.
    const api = front.log.filter((entry) => entry.path !== '/v2/');
    expect(api.some((entry) => entry.path.includes('/blobs/'))).toBe(true);
    expect(api.every((entry) => entry.status === 307)).toBe(true);
    expect(backend.log.filter((entry) => entry.path.includes('/blobs/') && entry.status === 200).length).toBeGreaterThan(0);

    const mark = backend.log.length;
    const again = await syncSources(ns, [image]);
    expect(again.result(image)).toMatchObject({ status: 'skipped', digest: pushed.index.digest });
    // The image's own HEAD; its signatures' tags (the default --artifacts) are looked for with HEADs too, no GET.
    const artifactTag = /\/manifests\/sha256-[0-9a-f]{64}(?:\.(?:sig|att|sbom))?$/;
    const manifests = backend.log.slice(mark).filter((entry) => entry.path.includes('/manifests/'));
    expect(manifests.filter((entry) => !artifactTag.test(entry.path)).map((entry) => entry.method)).toEqual(['HEAD']);
    expect(new Set(manifests.map((entry) => entry.method))).toEqual(new Set(['HEAD']));
  });

  it('looks up an image through a redirect to a backend that wants its own token, which crane 0.14 cannot follow', async () => {
    const ns = uniqueName('k8s-token');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    // Artifact Registry, behind registry.k8s.io, hands out anonymous tokens from a realm of its own.
    const backend = started(await startTokenRegistry({ upstream: s.sourceRegistry, hostname: 'localhost', service: 'us-docker.pkg.dev' }));
    const front = started(await startRedirectingRegistry({ backend: `http://${backend.host}` }));
    const image = `${front.host}/${ns}/app:1`;

    // crane 0.14 fetches tokens for the registry it was named, never for the origin a redirect took it to: the backend's
    // 401 ends the pull. The copy is crane's; what image-mirror does itself (HEAD, GET) is tested through this below.
    const alone = crane(['manifest', image]);
    await expect(alone).rejects.toMatchObject({ stderr: expect.stringContaining(`GET http://${backend.host}/v2/${ns}/app/manifests/1: UNAUTHORIZED: authentication required`) });

    const dryRun = await syncSources(ns, [image], { args: ['--dry-run'] });
    expect(dryRun.run.code, dryRun.run.stderr).toBe(0);
    expect(dryRun.result(image)).toMatchObject({ status: 'would-copy', digest: pushed.digest });

    // With the image put in the target by other means, the run needs only the lookups: it says skipped.
    const basic = Buffer.from(`${s.targetUsername}:${s.targetPassword}`).toString('base64');
    await crane(['copy', `${s.sourceRegistry}/${ns}/app:1`, `${s.targetRegistry}/${targetRepository(ns, image)}:1`], { [s.targetRegistry]: { auth: basic } });
    const synced = await syncSources(ns, [image]);
    expect(synced.run.code, synced.run.stderr).toBe(0);
    expect(synced.result(image)).toMatchObject({ status: 'skipped', digest: pushed.digest });

    // Each origin got only what was its own: the front no credentials, the backend the token it handed out.
    expect(front.log.filter((entry) => entry.authorization !== undefined)).toEqual([]);
    const sent = new Set(backend.log.flatMap((entry) => entry.authorization ?? []));
    expect([...sent].every((authorization) => backend.tokens.some((token) => authorization === `Bearer ${token}`))).toBe(true);
    expect(backend.log.filter((entry) => entry.path.includes('/manifests/') && entry.status === 200).map((entry) => entry.method)).toEqual(['HEAD', 'HEAD']);
  });
});
