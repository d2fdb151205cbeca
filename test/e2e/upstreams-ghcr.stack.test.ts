import { describe, expect, it } from 'vitest';
import { manifestDigest, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { syncSources, targetRepository } from '../support/upstreams/sync-run.ts';
import { cleanedAfterEach } from '../support/upstreams/cleanup.ts';
import { startTokenRegistry } from '../support/upstreams/token-registry.ts';

// GHCR wants a Bearer token on every request, public images included, and hands out anonymous ones (see
// test/support/upstreams/token-registry.ts).
describe('mirror sync from a GHCR-style registry that wants an anonymous token even for public images', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const { started } = cleanedAfterEach();

  it('mirrors a public index with no credentials configured, then skips it after a HEAD, with no GET', async () => {
    const ns = uniqueName('ghcr');
    const pushed = await pushIndex({ registry: s.sourceRegistry }, `${ns}/hadolint`, 'v2.12.0', ['linux/amd64', 'linux/arm64'], { format: 'docker' });
    const ghcr = started(await startTokenRegistry({ upstream: s.sourceRegistry }));
    const image = `${ghcr.host}/${ns}/hadolint:v2.12.0`;

    const first = await syncSources(ns, [image]);

    expect(first.run.code, first.run.stderr).toBe(0);
    expect(first.result(image)).toMatchObject({ status: 'copied', digest: pushed.index.digest });
    expect(await manifestDigest(target, targetRepository(ns, image), 'v2.12.0')).toBe(pushed.index.digest);
    // Every token was asked for anonymously, for pulling this repository from this service.
    const tokenRequests = ghcr.log.filter((entry) => entry.path.startsWith('/token'));
    expect(tokenRequests.length).toBeGreaterThan(0);
    for (const request of tokenRequests) {
      const query = new URL(request.path, 'http://ghcr.invalid').searchParams;
      expect(request.authorization).toBeUndefined();
      expect(query.get('service')).toBe('ghcr.io');
      expect(query.getAll('scope')).toContain(`repository:${ns}/hadolint:pull`);
    }

    const mark = ghcr.log.length;
    const again = await syncSources(ns, [image]);
    expect(again.result(image)).toMatchObject({ status: 'skipped', digest: pushed.index.digest });
    // The image's own HEAD; its signatures' tags (the default --artifacts), none upstream, are HEADs too.
    const artifactTag = /\/manifests\/sha256-[0-9a-f]{64}(?:\.(?:sig|att|sbom))?$/;
    const manifestRequests = ghcr.log.slice(mark).filter((entry) => entry.path.includes('/manifests/'));
    expect(manifestRequests.filter((entry) => !artifactTag.test(entry.path)).map((entry) => `${entry.method} ${entry.status}`)).toEqual(['HEAD 401', 'HEAD 200']);
    expect(new Set(manifestRequests.filter((entry) => artifactTag.test(entry.path)).map((entry) => `${entry.method} ${entry.status}`))).toEqual(new Set(['HEAD 404']));
  });
});
