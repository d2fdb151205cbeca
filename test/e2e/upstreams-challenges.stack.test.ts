import { describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { syncSources, targetRepository } from '../support/upstreams/sync-run.ts';
import { cleanedAfterEach } from '../support/upstreams/cleanup.ts';
import { startTokenRegistry } from '../support/upstreams/token-registry.ts';

// A 401 may offer several ways in (RFC 9110, section 11.6.1): several challenges in one WWW-Authenticate header, or
// several headers. image-mirror takes Bearer when it is offered, else Basic (see test/support/upstreams/token-registry.ts).
describe('mirror sync from a registry whose 401 offers several challenges', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const { started } = cleanedAfterEach();

  it('mirrors an image from a registry that sends a Negotiate header and a Bearer one, anonymously', async () => {
    const ns = uniqueName('challenges');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    const registry = started(await startTokenRegistry({ upstream: s.sourceRegistry, service: 'registry.corp.example', challenges: (bearer) => ['Negotiate', bearer] }));
    const image = `${registry.host}/${ns}/app:1`;

    const synced = await syncSources(ns, [image]);

    expect(synced.run.code, synced.run.stderr).toBe(0);
    expect(synced.result(image)).toMatchObject({ status: 'copied', digest: pushed.digest });
    expect(await manifestDigest(target, targetRepository(ns, image), '1')).toBe(pushed.digest);
  });

  it('mirrors an image from a registry that offers Basic and Bearer in one header, taking a token with the credentials configured', async () => {
    const ns = uniqueName('challenges');
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    const login = { username: 'reader', password: 'reader-password-1' };
    const registry = started(await startTokenRegistry({ upstream: s.sourceRegistry, service: 'registry.corp.example', basic: login, challenges: (bearer) => [`Basic realm="corp", ${bearer}`] }));
    const image = `${registry.host}/${ns}/app:1`;

    const synced = await syncSources(ns, [image], { credentials: { [registry.host]: login } });

    expect(synced.run.code, synced.run.stderr).toBe(0);
    expect(synced.result(image)).toMatchObject({ status: 'copied', digest: pushed.digest });
    expect(await manifestDigest(target, targetRepository(ns, image), '1')).toBe(pushed.digest);
    // Our lookup took the Bearer challenge, the credentials going to the token endpoint only; crane 0.14 takes the
    // first challenge it knows, Basic, and sends them with each request.
    const basic = `Basic ${Buffer.from(`${login.username}:${login.password}`).toString('base64')}`;
    const tokenRequests = registry.log.filter((entry) => entry.path.startsWith('/token'));
    expect(tokenRequests.map((entry) => entry.authorization)).toEqual([basic]);
    const heads = registry.log.filter((entry) => entry.method === 'HEAD' && entry.path.includes('/manifests/') && entry.status === 200);
    expect(heads.map((entry) => entry.authorization)).toEqual([`Bearer ${registry.tokens[0]}`]);
    const craneGets = registry.log.filter((entry) => entry.method === 'GET' && entry.path.startsWith('/v2/') && entry.status === 200);
    expect(craneGets.length).toBeGreaterThan(0);
    expect(craneGets.every((entry) => entry.authorization === basic)).toBe(true);
  });
});
