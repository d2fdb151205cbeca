import { describe, expect, it } from 'vitest';
import { cachedImagesTree, GITHUB_CACHE_MS } from '../../../shared/wiring/findings.ts';
import { FakeImagesTree } from '../../fakes/scan-acceptance.ts';

// The warm container's cache of the images tree in front of a fake tree that records its calls; the clock is a number
// the test moves. test/e2e/findings.stack.test.ts counts the calls the real handler makes to a fake GitHub.

const SIGN_OFF = 'vulnerabilities:\n  - id: CVE-2024-0001\n    statement: not reachable\n';

function setup() {
  const tree = new FakeImagesTree({
    'docker.io/library/postgres/14/Dockerfile': 'FROM postgres:14\n',
    'docker.io/library/postgres/14/Dockerfile.alpine': 'FROM postgres:14-alpine\n',
    'docker.io/library/postgres/14/.trivyignore.yaml': SIGN_OFF,
    'docker.io/library/postgres/16/Dockerfile': 'FROM postgres:16\n',
  });
  const clock = { now: 1_000_000 };
  const cached = cachedImagesTree({ source: tree, signOffs: tree }, { now: () => clock.now });
  return { tree, clock, cached };
}

describe('cachedImagesTree', () => {
  it('lists the tree once for the events of a few minutes, and once for events asking at the same time', async () => {
    const { tree, clock, cached } = setup();
    const [first, second] = await Promise.all([cached.source.list(), cached.source.list()]);
    expect(second).toEqual(first);
    clock.now += GITHUB_CACHE_MS - 1;
    expect(await cached.source.list()).toEqual(first);
    expect(tree.calls).toEqual(['list']);
  });

  it('lists the tree again once the listing is older than GITHUB_CACHE_MS: a merged change counts within minutes', async () => {
    const { tree, clock, cached } = setup();
    await cached.source.list();
    clock.now += GITHUB_CACHE_MS;
    tree.files['docker.io/library/redis/Dockerfile'] = 'FROM redis:7\n';
    expect((await cached.source.list()).map((entry) => entry.path)).toContain('docker.io/library/redis/Dockerfile');
    expect(tree.calls).toEqual(['list', 'list']);
  });

  it('keeps no failed listing: the next event lists again', async () => {
    const { tree, cached } = setup();
    tree.failList = new Error('listing the tree of octo/images@main: GitHub answered 502 Bad Gateway');
    await expect(cached.source.list()).rejects.toThrow('502 Bad Gateway');
    delete tree.failList;
    expect(await cached.source.list()).toHaveLength(2);
    expect(tree.calls).toEqual(['list', 'list']);
  });

  it('reads each sign-off file once, whichever Dockerfile beside it asks, and a missing one once too', async () => {
    const { tree, cached } = setup();
    const read = await cached.signOffs.read('docker.io/library/postgres/14/Dockerfile');
    expect(read).toEqual({ path: 'docker.io/library/postgres/14/.trivyignore.yaml', text: SIGN_OFF });
    expect(await cached.signOffs.read('docker.io/library/postgres/14/Dockerfile.alpine')).toEqual(read);
    expect(await cached.signOffs.read('docker.io/library/postgres/16/Dockerfile')).toBeUndefined();
    expect(await cached.signOffs.read('docker.io/library/postgres/16/Dockerfile')).toBeUndefined();
    expect(tree.calls).toEqual(['read docker.io/library/postgres/14/.trivyignore.yaml', 'read docker.io/library/postgres/16/.trivyignore.yaml']);
  });

  it('keeps no failed read, and reads a sign-off file again once its entry is older than GITHUB_CACHE_MS', async () => {
    const { tree, clock, cached } = setup();
    tree.failRead.set('docker.io/library/postgres/14/.trivyignore.yaml', new Error('GitHub answered 502 Bad Gateway'));
    await expect(cached.signOffs.read('docker.io/library/postgres/14/Dockerfile')).rejects.toThrow('502');
    tree.failRead.clear();
    await cached.signOffs.read('docker.io/library/postgres/14/Dockerfile');
    await cached.signOffs.read('docker.io/library/postgres/14/Dockerfile');
    clock.now += GITHUB_CACHE_MS;
    await cached.signOffs.read('docker.io/library/postgres/14/Dockerfile');
    expect(tree.calls.filter((call) => call.startsWith('read'))).toHaveLength(3);
  });
});
