import { describe, expect, it } from 'vitest';
import { locateSignOffs } from '../../../shared/findings/locate-sign-offs.ts';
import { DEFAULT_NAME_TEMPLATE } from '../../../shared/image-ref/target.ts';
import { FakeImagesTree } from '../../fakes/scan-acceptance.ts';

const settings = { targetPrefix: 'mirror', nameTemplate: DEFAULT_NAME_TEMPLATE };
const SIGN_OFF = 'vulnerabilities:\n  - id: CVE-2024-0001\n    statement: not reachable\n';

describe('locateSignOffs', () => {
  const tree = () =>
    new FakeImagesTree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      'docker.io/library/postgres/.trivyignore.yaml': SIGN_OFF,
      'docker.io/library/postgres/16/Dockerfile': 'FROM postgres:16\n',
      'docker.io/library/postgres/16/.trivyignore.yaml': 'vulnerabilities: []\n',
      'docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
    });

  it('finds the Dockerfile of the repository and tag, and reads the sign-off file beside it only', async () => {
    const images = tree();
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, settings);
    expect(located).toEqual({
      dockerfiles: ['docker.io/library/postgres/Dockerfile'],
      files: [{ path: 'docker.io/library/postgres/.trivyignore.yaml', text: SIGN_OFF }],
      candidates: [['docker.io/library/postgres/.trivyignore.yaml']],
    });
    expect(images.calls).toEqual(['list', 'read docker.io/library/postgres/.trivyignore.yaml']);
  });

  it('keeps every image of the repository for an untagged manifest (one platform of an index), each a candidate with its own sign-offs, never pooled: the scan may be of any of them', async () => {
    const images = tree();
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: [] }, { source: images, signOffs: images }, settings);
    expect(located.dockerfiles).toEqual(['docker.io/library/postgres/16/Dockerfile', 'docker.io/library/postgres/Dockerfile']);
    expect(located.files.map((file) => file.path)).toEqual(['docker.io/library/postgres/16/.trivyignore.yaml', 'docker.io/library/postgres/.trivyignore.yaml']);
    expect(located.candidates).toEqual([['docker.io/library/postgres/.trivyignore.yaml'], ['docker.io/library/postgres/16/.trivyignore.yaml']]);
  });

  it('keeps every image of the repository, each a candidate of its own, when no tag matches', async () => {
    const images = tree();
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: ['15'] }, { source: images, signOffs: images }, settings);
    expect(located.dockerfiles).toHaveLength(2);
    expect(located.candidates).toHaveLength(2);
  });

  it('pools the sign-offs of every Dockerfile naming the tagged image: one candidate', async () => {
    const images = new FakeImagesTree({
      'team-a/postgres/Dockerfile': 'FROM postgres:14\n',
      'team-a/postgres/.trivyignore.yaml': SIGN_OFF,
      'team-b/postgres/Dockerfile': 'FROM docker.io/library/postgres:14\n',
      'team-b/postgres/.trivyignore.yaml': SIGN_OFF,
    });
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, settings);
    expect(located.candidates).toEqual([['team-a/postgres/.trivyignore.yaml', 'team-b/postgres/.trivyignore.yaml']]);
  });

  it('lists a Dockerfile with no sign-off file beside it, and reads nothing for it', async () => {
    const images = tree();
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/redis', tags: ['7'] }, { source: images, signOffs: images }, settings);
    expect(located).toEqual({ dockerfiles: ['docker.io/library/redis/Dockerfile'], files: [], candidates: [[]] });
  });

  it('finds nothing for a repository no Dockerfile names, or one under another prefix', async () => {
    const images = tree();
    expect(await locateSignOffs({ repository: 'mirror/docker.io/library/mysql', tags: ['8'] }, { source: images, signOffs: images }, settings)).toEqual({ dockerfiles: [], files: [], candidates: [] });
    expect(await locateSignOffs({ repository: 'other/docker.io/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, settings)).toEqual({ dockerfiles: [], files: [], candidates: [] });
  });

  it('names repositories with the configured template', async () => {
    const images = tree();
    const located = await locateSignOffs({ repository: 'mirror/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, { targetPrefix: 'mirror', nameTemplate: '{repository}' });
    expect(located.dockerfiles).toEqual(['docker.io/library/postgres/Dockerfile']);
  });

  it('finds every Dockerfile naming the same image, a digest-only one by its digest tag', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const images = new FakeImagesTree({
      'team-a/postgres/Dockerfile': 'FROM postgres:14\n',
      'team-b/postgres/Dockerfile': 'FROM docker.io/library/postgres:14\n',
      'pinned/postgres/Dockerfile': `FROM postgres@${digest}\n`,
    });
    const both = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, settings);
    expect(both.dockerfiles).toEqual(['team-a/postgres/Dockerfile', 'team-b/postgres/Dockerfile']);
    const pinned = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: [`sha256-${'a'.repeat(64)}`] }, { source: images, signOffs: images }, settings);
    expect(pinned.dockerfiles).toEqual(['pinned/postgres/Dockerfile']);
  });

  it('returns a sign-off file whose read failed with the reason, and still reads the others', async () => {
    const images = tree();
    images.failRead.set('docker.io/library/postgres/.trivyignore.yaml', new Error('GitHub answered 502 Bad Gateway'));
    const located = await locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: [] }, { source: images, signOffs: images }, settings);
    expect(located.files).toEqual([
      { path: 'docker.io/library/postgres/16/.trivyignore.yaml', text: 'vulnerabilities: []\n' },
      { path: 'docker.io/library/postgres/.trivyignore.yaml', readError: 'GitHub answered 502 Bad Gateway' },
    ]);
  });

  it('throws when the tree cannot be listed', async () => {
    const images = tree();
    images.failList = new Error('listing the tree of octo/images@main: GitHub answered 503 Service Unavailable');
    await expect(locateSignOffs({ repository: 'mirror/docker.io/library/postgres', tags: ['14'] }, { source: images, signOffs: images }, settings)).rejects.toThrow('GitHub answered 503');
  });
});
