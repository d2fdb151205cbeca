import { describe, expect, it } from 'vitest';
import { CopyFailedError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { mirrorImage } from '../../../shared/sync/mirror-image.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const job = { source: parseImageReference('quay.io/a/b:1'), target: parseImageReference('mirror.example.com/quay.io/a/b:1'), files: ['quay.io/a/b/Dockerfile'] };

describe('mirrorImage (fakes, for what real registries cannot be made to do)', () => {
  it('fails when the target does not hold the copied digest afterwards', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D1);
    const failure = mirrorImage(job, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() });
    await expect(failure).rejects.toThrow(CopyFailedError);
    await expect(failure).rejects.toThrow(`copying "quay.io/a/b@${D1}" to "mirror.example.com/quay.io/a/b:1": the target now holds nothing instead of ${D1}`);
  });

  it('copies by the digest it looked up, and passes only the two registries\' credentials', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D2);
    const copier = new FakeCopier((request) => registry.digests.set(request.target, D2));
    const credentials = new StaticCredentialProvider(new Map([
      ['quay.io', { username: 'q', password: 'p' }],
      ['mirror.example.com', { username: 'm', password: 'n' }],
      ['ghcr.io', { username: 'g', password: 'h' }],
    ]));
    await expect(mirrorImage(job, { registry, copier, credentials })).resolves.toMatchObject({ status: 'copied', digest: D2 });
    expect(copier.requests[0]?.source).toBe(`quay.io/a/b@${D2}`);
    expect([...(copier.requests[0]?.credentials.keys() ?? [])].sort()).toEqual(['mirror.example.com', 'quay.io']);
  });

  it('spends no source request on a digest-pinned image the target already holds', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('mirror.example.com/quay.io/a/b:1', D1);
    const pinned = { ...job, source: parseImageReference(`quay.io/a/b:1@${D1}`) };
    await expect(mirrorImage(pinned, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() })).resolves.toMatchObject({ status: 'skipped' });
    expect(registry.calls).toEqual(['HEAD mirror.example.com/quay.io/a/b:1']);
  });
});
