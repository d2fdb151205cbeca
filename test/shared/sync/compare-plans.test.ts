import { describe, expect, it } from 'vitest';
import { renderDiffText } from '../../../functions/cli/render-diff.ts';
import { RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import type { DockerfileEntry, ManifestHead } from '../../../shared/ports.ts';
import { comparePlans, lookUpSyncCosts } from '../../../shared/sync/compare-plans.ts';
import type { ImageReference } from '../../../shared/image-ref/reference.ts';
import { FakeManifestRegistry } from '../../fakes/registry.ts';

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const HUB = { limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' };

/** A registry holding single images and indexes of `entries` images, each told by its HEAD's Content-Type unless `untyped`. */
function registryWith(images: readonly { name: string; digest: string; entries?: number; untyped?: boolean }[]): FakeManifestRegistry {
  const registry = new FakeManifestRegistry();
  for (const { name, digest, entries, untyped } of images) {
    const ref = parseImageReference(name);
    const json =
      entries === undefined
        ? { schemaVersion: 2, mediaType: IMAGE }
        : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: entries }, (_, i) => ({ mediaType: IMAGE, digest: D(i + 1), size: 1, platform: { os: 'linux', architecture: `arch${i}` } })) };
    const mediaType = entries === undefined ? IMAGE : OCI_INDEX;
    registry.digests.set(name, digest);
    if (!untyped) registry.mediaTypes.set(name, mediaType);
    const body = JSON.stringify(json);
    registry.manifests.set(`${ref.registry}/${ref.repository}@${digest}`, { digest, mediaType, body, json });
  }
  return registry;
}

const refs = (...names: string[]): ImageReference[] => names.map((name) => parseImageReference(name));

/** A promise the test settles when it chooses, to order concurrent lookups. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('lookUpSyncCosts', () => {
  it('prices a single image from its HEAD alone: one pull, no GET', async () => {
    const registry = registryWith([{ name: 'docker.io/library/alpine:3.20', digest: D(7) }]);
    const { costs } = await lookUpSyncCosts(refs('alpine:3.20'), registry);
    expect(costs.get('docker.io/library/alpine:3.20')).toEqual({ cost: { digest: D(7), index: false, platforms: [], manifestGets: 1, pulls: 1 }, lookupGets: 0 });
    expect(registry.calls).toEqual(['HEAD docker.io/library/alpine:3.20']);
  });

  it('reads an index by the digest its HEAD told, with one GET, and prices it 1 + its entries', async () => {
    const registry = registryWith([{ name: 'docker.io/library/postgres:16', digest: D(8), entries: 3 }]);
    const { costs } = await lookUpSyncCosts(refs('postgres:16'), registry);
    expect(costs.get('docker.io/library/postgres:16')).toEqual({ cost: { digest: D(8), index: true, platforms: ['linux/arch0', 'linux/arch1', 'linux/arch2'], manifestGets: 4, pulls: 4 }, lookupGets: 1 });
    expect(registry.calls).toEqual(['HEAD docker.io/library/postgres:16', `GET docker.io/library/postgres@${D(8)}`]);
  });

  it('reads a manifest whose HEAD tells no type, even a single image', async () => {
    const registry = registryWith([{ name: 'quay.io/a/b:1', digest: D(6), untyped: true }]);
    const { costs } = await lookUpSyncCosts(refs('quay.io/a/b:1'), registry);
    expect(costs.get('quay.io/a/b:1')).toEqual({ cost: { digest: D(6), index: false, platforms: [], manifestGets: 1, pulls: 1 }, lookupGets: 1 });
    expect(registry.calls).toEqual(['HEAD quay.io/a/b:1', `GET quay.io/a/b@${D(6)}`]);
  });

  it('counts the GET of a registry that answers no HEAD', async () => {
    const registry = registryWith([{ name: 'r.example.com/a:1', digest: D(5) }]);
    const head = registry.headManifest.bind(registry);
    registry.headManifest = async (ref): Promise<ManifestHead | undefined> => {
      const found = await head(ref);
      return found === undefined ? undefined : { ...found, pullsSpent: 1 };
    };
    const { costs } = await lookUpSyncCosts(refs('r.example.com/a:1'), registry);
    expect(costs.get('r.example.com/a:1')).toMatchObject({ cost: { manifestGets: 1, pulls: 1 }, lookupGets: 1 });
  });

  it.each<[string, (registry: FakeManifestRegistry) => void, { error: string; notFound?: true; lookupGets: number }, string[]]>([
    ['a missing image, by its HEAD', () => undefined, { error: 'looking up "docker.io/library/gone:1": no such image (404)', notFound: true, lookupGets: 0 }, ['HEAD docker.io/library/gone:1']],
    [
      'a failed HEAD',
      (registry) => {
        registry.failHeadsOn = { registry: 'docker.io', error: new RegistryRequestError('HEAD x: 503 Service Unavailable', { status: 503 }) };
      },
      { error: 'looking up "docker.io/library/gone:1": HEAD x: 503 Service Unavailable', lookupGets: 0 },
      ['HEAD docker.io/library/gone:1'],
    ],
    [
      'an index gone between its HEAD and its GET',
      (registry) => {
        registry.digests.set('docker.io/library/gone:1', D(4));
        registry.mediaTypes.set('docker.io/library/gone:1', OCI_INDEX);
      },
      { error: 'looking up "docker.io/library/gone:1": no such image (404)', notFound: true, lookupGets: 1 },
      ['HEAD docker.io/library/gone:1', `GET docker.io/library/gone@${D(4)}`],
    ],
    [
      'a failed GET',
      (registry) => {
        registry.digests.set('docker.io/library/gone:1', D(4));
        registry.getManifest = async () => {
          throw new RegistryRequestError('GET x: 500 Internal Server Error', { status: 500 });
        };
      },
      { error: 'looking up "docker.io/library/gone:1": GET x: 500 Internal Server Error', lookupGets: 1 },
      ['HEAD docker.io/library/gone:1'],
    ],
  ])('reports %s on its image, with the GETs it sent', async (_, arrange, expected, calls) => {
    const registry = new FakeManifestRegistry();
    arrange(registry);
    const { costs } = await lookUpSyncCosts(refs('gone:1'), registry);
    expect(costs.get('docker.io/library/gone:1')).toEqual(expected);
    expect(registry.calls).toEqual(calls);
  });

  it.each([
    ['the index looked up first', ['postgres:16', 'alpine:3.20', 'redis:7'], 1],
    ['the index looked up last, after HEADs that did not count its GET', ['alpine:3.20', 'redis:7', 'postgres:16'], 1],
    ['two at a time', ['postgres:16', 'redis:7', 'alpine:3.20'], 2],
    ['all at once', ['postgres:16', 'redis:7', 'alpine:3.20'], 8],
  ])('tells the budget as the lookups left it, their own GETs counted: %s', async (_, names, concurrency) => {
    const registry = registryWith([
      { name: 'docker.io/library/postgres:16', digest: D(1), entries: 2 },
      { name: 'docker.io/library/redis:7', digest: D(2), entries: 2 },
      { name: 'docker.io/library/alpine:3.20', digest: D(3) },
      { name: 'ghcr.io/a/app:1', digest: D(4) },
    ]);
    registry.budgets.set('docker.io', HUB);
    const { budgets } = await lookUpSyncCosts(refs(...names, 'ghcr.io/a/app:1'), registry, { concurrency });
    // Two indexes read: two pulls spent by the lookups; ghcr.io tells no budget and gets none.
    expect(registry.budgets.get('docker.io')?.remaining).toBe(74);
    expect(budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 74 }]);
  });

  it('takes a GET still running when a HEAD was sent as not counted by its figure: fewer pulls left rather than more', async () => {
    const registry = registryWith([
      { name: 'docker.io/library/postgres:16', digest: D(1) },
      { name: 'docker.io/library/alpine:3.20', digest: D(3) },
      { name: 'docker.io/library/busybox:1', digest: D(2) },
    ]);
    registry.budgets.set('docker.io', HUB);
    const [charged, getEnds, alpineAnswers, busyboxSeen] = [gate(), gate(), gate(), gate()];
    const head = registry.headManifest.bind(registry);
    const get = registry.getManifest.bind(registry);
    registry.headManifest = async (ref) => {
      if (ref.repository === 'library/postgres') {
        // Index GETs wait for every HEAD; a GET that answers a HEAD (a registry without HEAD) does not.
        await get(ref);
        charged.open();
        await getEnds.opened;
        const found = await head(ref);
        return found === undefined ? undefined : { ...found, pullsSpent: 1 };
      }
      if (ref.repository === 'library/alpine') await charged.opened;
      const found = await head(ref);
      if (ref.repository === 'library/alpine') await alpineAnswers.opened;
      if (ref.repository === 'library/busybox') busyboxSeen.open();
      return found;
    };
    // postgres's GET is charged while alpine's HEAD is out: alpine reads 75, unsure whether that GET is in it.
    // busybox's HEAD goes out once the GET has ended and reads 75 too, surely counting it.
    const looking = lookUpSyncCosts(refs('postgres:16', 'alpine:3.20', 'busybox:1'), registry, { concurrency: 2 });
    await charged.opened;
    getEnds.open();
    await busyboxSeen.opened;
    alpineAnswers.open();
    const { budgets } = await looking;
    expect(registry.budgets.get('docker.io')?.remaining).toBe(75);
    expect(budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 74 }]);
  });

  it('sends no index GET before every HEAD is answered, so that no HEAD races one', async () => {
    const registry = registryWith([
      { name: 'docker.io/library/postgres:16', digest: D(1), entries: 2 },
      { name: 'docker.io/library/alpine:3.20', digest: D(3) },
    ]);
    registry.budgets.set('docker.io', HUB);
    // alpine's HEAD is slow to be answered: its figure is read after postgres's would-be GET, were that already sent.
    const head = registry.headManifest.bind(registry);
    registry.headManifest = async (ref) => {
      if (ref.repository === 'library/alpine') await new Promise((resolve) => setTimeout(resolve, 20));
      return head(ref);
    };
    const { budgets } = await lookUpSyncCosts(refs('postgres:16', 'alpine:3.20'), registry, { concurrency: 2 });
    expect(registry.calls).toEqual(['HEAD docker.io/library/postgres:16', 'HEAD docker.io/library/alpine:3.20', `GET docker.io/library/postgres@${D(1)}`]);
    // Both figures were read before the GET: 76, less the one GET.
    expect(budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 75 }]);
  });

  it('keeps the lowest figure when the registry tells a lower one than its own GETs explain', async () => {
    const registry = registryWith([
      { name: 'docker.io/library/alpine:3.20', digest: D(3) },
      { name: 'docker.io/library/busybox:1', digest: D(2) },
    ]);
    registry.budgets.set('docker.io', HUB);
    const head = registry.headManifest.bind(registry);
    // Another client behind the same address pulls 10 between the two HEADs.
    registry.headManifest = async (ref) => {
      const found = await head(ref);
      const budget = registry.budgets.get('docker.io');
      if (budget !== undefined) registry.budgets.set('docker.io', { ...budget, remaining: budget.remaining - 10 });
      return found;
    };
    const { budgets } = await lookUpSyncCosts(refs('alpine:3.20', 'busybox:1'), registry, { concurrency: 1 });
    expect(budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 66 }]);
  });
});

describe('comparePlans', () => {
  const tree = (files: Record<string, string>) => ({ list: async (): Promise<DockerfileEntry[]> => Object.entries(files).map(([path, text]) => ({ path, text })) });
  const base = tree({ 'pg/Dockerfile': 'FROM postgres:15\n' });
  const next = tree({ 'pg/Dockerfile': 'FROM postgres:16\n', 'alpine/Dockerfile': 'FROM alpine:3.20\n', 'app/Dockerfile': 'FROM ghcr.io/a/app:1\n' });

  const registry = () => {
    const fake = registryWith([
      { name: 'docker.io/library/postgres:16', digest: D(1), entries: 4 },
      { name: 'docker.io/library/alpine:3.20', digest: D(3) },
      { name: 'ghcr.io/a/app:1', digest: D(4) },
    ]);
    fake.budgets.set('docker.io', { ...HUB, remaining: 25 });
    return fake;
  };

  it('prices the change in the pulls the sync takes and sets them against the budget the headers told', async () => {
    const fake = registry();
    const report = await comparePlans({ base, next, registry: fake }, { baseLabel: 'origin/main' });
    expect(report.summary).toMatchObject({ pulls: 5 + 1 + 1, manifestGets: 7, dockerHubPulls: 6, lookupGets: 1, dockerHubLookupGets: 1, costComplete: true });
    // 25 seen, 1 spent reading the index: 24 left, 6 to take with 20 kept: 2 short.
    expect(report.budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 24, pulls: 6, fits: false }]);
    expect(fake.calls.filter((call) => call.startsWith('GET'))).toEqual([`GET docker.io/library/postgres@${D(1)}`]);
    expect(renderDiffText(report)).toContain(
      'Syncing this costs the sources 7 pulls. Docker Hub: 6 pulls; 24 of 100 per 6 h left for 192.0.2.1, only 4 above the 20 kept in reserve: the sync will defer some images to later runs.\n',
    );
  });

  it('sets them against the reserve it is given', async () => {
    const report = await comparePlans({ base, next, registry: registry() }, { baseLabel: 'origin/main', pullReserve: 18 });
    expect(report.pullReserve).toBe(18);
    expect(report.budgets).toMatchObject([{ registry: 'docker.io', remaining: 24, pulls: 6, fits: true }]);
    expect(renderDiffText(report)).toContain('Docker Hub: 6 pulls; 24 of 100 per 6 h left for 192.0.2.1, which fits above the 18 kept in reserve.\n');
  });

  it('sends nothing without a registry', async () => {
    const report = await comparePlans({ base, next }, { baseLabel: 'origin/main' });
    expect(report).toMatchObject({ costLookedUp: false, budgets: [], summary: { pulls: 0, lookupGets: 0 } });
  });
});

describe('comparePlans and pins whose tag moved', () => {
  const tree = (files: Record<string, string>) => ({ list: async (): Promise<DockerfileEntry[]> => Object.entries(files).map(([path, text]) => ({ path, text })) });
  const base = tree({ 'pg/Dockerfile': `FROM postgres:14@${D(1)}\n` });
  const next = tree({
    'pg/Dockerfile': `FROM postgres:14@${D(2)}\n`,
    'redis/Dockerfile': `FROM redis:7@${D(3)}\n`,
    'old/Dockerfile': `FROM quay.io/a/old:1@${D(4)}\n`,
    'multi/Dockerfile': 'FROM alpine:3.20\n',
  });

  /** postgres:14 moved on from the pin to D(5); redis:7 still names the pin; quay.io/a/old:1 is gone; alpine is an index. */
  const registry = () => {
    const fake = registryWith([
      { name: `docker.io/library/postgres:14@${D(2)}`, digest: D(2) },
      { name: 'docker.io/library/postgres:14', digest: D(5) },
      { name: `docker.io/library/redis:7@${D(3)}`, digest: D(3) },
      { name: 'docker.io/library/redis:7', digest: D(3) },
      { name: `quay.io/a/old:1@${D(4)}`, digest: D(4) },
      { name: 'docker.io/library/alpine:3.20', digest: D(6), entries: 2 },
    ]);
    fake.budgets.set('docker.io', HUB);
    return fake;
  };

  it('sends one HEAD on the tag of each added or changed pin, with the cost HEADs and before any GET, and reports the drift', async () => {
    const fake = registry();
    const report = await comparePlans({ base, next, registry: fake }, { baseLabel: 'main' });
    const drift = Object.fromEntries([...report.added, ...report.changed].map((e) => [e.source, [e.pinDrift, e.pinDriftError]]));
    expect(drift).toEqual({
      [`docker.io/library/postgres:14@${D(2)}`]: [{ tag: 'docker.io/library/postgres:14', pinned: D(2), current: D(5) }, null],
      [`docker.io/library/redis:7@${D(3)}`]: [null, null],
      [`quay.io/a/old:1@${D(4)}`]: [{ tag: 'quay.io/a/old:1', pinned: D(4), current: null }, null],
      'docker.io/library/alpine:3.20': [null, null],
    });
    expect(report.summary).toMatchObject({ pinDrift: 2, invalid: 0, missing: 0 });
    const tagHeads = ['HEAD docker.io/library/postgres:14', 'HEAD docker.io/library/redis:7', 'HEAD quay.io/a/old:1'];
    expect(fake.calls.filter((call) => tagHeads.includes(call)).sort()).toEqual(tagHeads);
    // Every HEAD, the tags' among them, before the index GET: no budget figure races it.
    expect(fake.calls.at(-1)).toBe(`GET docker.io/library/alpine@${D(6)}`);
    expect(fake.calls.filter((call) => call.startsWith('GET'))).toHaveLength(1);
    expect(renderDiffText(report)).toContain(`    warning: tag docker.io/library/postgres:14 now names ${D(5)}, not the pinned ${D(2)}`);
    expect(renderDiffText(report)).toContain(`    warning: tag quay.io/a/old:1 no longer exists upstream, not the pinned ${D(4)}`);
  });

  it('counts a GET a registry without HEAD spends on a tag, in the lookups and in the budget', async () => {
    const fake = registry();
    const head = fake.headManifest.bind(fake);
    // The tag of postgres is asked by GET in place of a HEAD, as on a registry that answers no HEAD: one pull.
    fake.headManifest = async (ref): Promise<ManifestHead | undefined> => {
      const found = await head(ref);
      if (found === undefined || ref.repository !== 'library/postgres' || ref.digest !== undefined) return found;
      const budget = { ...HUB, remaining: (fake.budgets.get('docker.io')?.remaining ?? HUB.remaining) - 1 };
      fake.budgets.set('docker.io', budget);
      return { ...found, pullsSpent: 1, budget };
    };
    const report = await comparePlans({ base, next, registry: fake }, { baseLabel: 'main' });
    expect(report.summary).toMatchObject({ lookupGets: 2, dockerHubLookupGets: 2 });
    // 76, less the tag's GET and the index's GET.
    expect(report.budgets).toMatchObject([{ registry: 'docker.io', remaining: 74 }]);
  });

  it('reports a tag that cannot be looked up on its image, failing nothing', async () => {
    const fake = registry();
    const head = fake.headManifest.bind(fake);
    fake.headManifest = async (ref) => {
      if (ref.repository === 'library/redis' && ref.digest === undefined) throw new RegistryRequestError('HEAD redis:7: 503 Service Unavailable', { status: 503 });
      return head(ref);
    };
    const report = await comparePlans({ base, next, registry: fake }, { baseLabel: 'main' });
    expect(report.added.find((e) => e.source.startsWith('docker.io/library/redis'))).toMatchObject({
      pinDrift: null,
      pinDriftError: 'looking up tag "docker.io/library/redis:7" of the pin: HEAD redis:7: 503 Service Unavailable',
      error: null,
    });
    expect(report.summary.missing).toBe(0);
  });

  it('looks no tag up without a registry', async () => {
    const report = await comparePlans({ base, next }, { baseLabel: 'main' });
    expect([...report.added, ...report.changed].map((e) => e.pinDrift)).toEqual([null, null, null, null]);
    expect(report.summary.pinDrift).toBe(0);
  });
});
