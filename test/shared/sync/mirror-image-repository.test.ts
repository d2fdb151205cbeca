import { describe, expect, it } from 'vitest';
import { RegistryRequestError, RepositoryStoreError } from '../../../shared/errors.ts';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { mirrorImage, type SyncDeps, syncAll } from '../../../shared/sync/mirror-image.ts';
import { FakeRepositoryStore } from '../../fakes/repository-store.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const job = { source: parseImageReference('quay.io/a/b:1'), target: parseImageReference('mirror.example.com/m/quay.io/a/b:1'), files: ['quay.io/a/b/Dockerfile'] };
const REPO = 'm/quay.io/a/b';

function setup() {
  const registry = new FakeManifestRegistry();
  const repositories = new FakeRepositoryStore();
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  const deps: SyncDeps = { registry, copier, credentials: new StaticCredentialProvider(), repositories };
  return { registry, repositories, copier, deps };
}

describe('mirrorImage with a repository store (fakes)', () => {
  it('creates no repository for a source that does not exist', async () => {
    const { repositories, deps } = setup();
    const failure = mirrorImage(job, deps);
    await expect(failure).rejects.toThrow(RegistryRequestError);
    await expect(failure).rejects.toThrow('looking up source "quay.io/a/b:1": no such image (404)');
    expect(repositories.calls).toEqual([`check ${REPO} quay.io/a/b`]);
  });

  it('creates the repository once the source is found, and takes a target that answered with an error for empty', async () => {
    const { registry, repositories, copier, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    // Only the target's HEAD fails: as a registry may answer in a repository that does not exist.
    const head = registry.headManifest.bind(registry);
    let targetHeads = 0;
    registry.headManifest = async (ref) => {
      if (ref.registry === 'mirror.example.com' && targetHeads++ === 0) throw new RegistryRequestError('403 Forbidden', { status: 403 });
      return head(ref);
    };
    const outcome = await mirrorImage(job, deps);
    expect(outcome).toMatchObject({ status: 'copied', digest: D1, repository: { created: true } });
    expect(outcome.replaced).toBeUndefined();
    expect(repositories.calls).toEqual([`check ${REPO} quay.io/a/b`, `ensure ${REPO} quay.io/a/b`]);
    expect(copier.requests).toHaveLength(1);
  });

  it('fails on a target error when the repository exists', async () => {
    const { registry, repositories, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    repositories.existing.set(REPO, {});
    registry.failHeadsOn = { registry: 'mirror.example.com', error: new RegistryRequestError('403 Forbidden', { status: 403 }) };
    await expect(mirrorImage(job, deps)).rejects.toThrow('looking up target "mirror.example.com/m/quay.io/a/b:1": 403 Forbidden');
  });

  it('says what it put back on an image it skips, with no manifest GET', async () => {
    const { registry, repositories, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    registry.digests.set('mirror.example.com/m/quay.io/a/b:1', D1);
    repositories.existing.set(REPO, { repaired: ['lifecycle policy'], warnings: ['encryption is AES256, configured KMS key k: …'] });
    // The image alone: the artifacts step reads the target's index (free) for an image whose HEAD named no media type.
    const imageOnly = { artifacts: 'none' } as const;
    expect(await mirrorImage(job, deps, imageOnly)).toEqual({ status: 'skipped', digest: D1, repository: { repaired: ['lifecycle policy'], warnings: ['encryption is AES256, configured KMS key k: …'] } });
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
    expect(repositories.calls).toEqual([`check ${REPO} quay.io/a/b`]);
    // Nothing to say on the next run.
    expect(await mirrorImage(job, deps, imageOnly)).toEqual({ status: 'skipped', digest: D1 });
  });

  it('looks at the repository while the source is looked up, not after', async () => {
    const { registry, repositories, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    registry.digests.set('mirror.example.com/m/quay.io/a/b:1', D1);
    repositories.existing.set(REPO, {});
    let sourceAsked!: () => void;
    const sourceSeen = new Promise<void>((resolve) => (sourceAsked = resolve));
    // The check answers only once the source HEAD was sent, and the source HEAD only once the check was: in turn, neither would.
    repositories.checkGate = sourceSeen;
    const head = registry.headManifest.bind(registry);
    registry.headManifest = async (ref) => {
      if (ref.registry === 'quay.io') {
        sourceAsked();
        await new Promise<void>((resolve) => {
          const wait = () => (repositories.calls.length > 0 ? resolve() : setTimeout(wait, 1));
          wait();
        });
      }
      return head(ref);
    };
    const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error('the check waited for the source look-up, or the other way round')), 1_000).unref());
    expect(await Promise.race([mirrorImage(job, deps), stuck])).toMatchObject({ status: 'skipped' });
  });

  it('touches no repository in a dry run', async () => {
    const { registry, repositories, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    expect(await mirrorImage(job, deps, { dryRun: true })).toEqual({ status: 'would-copy', digest: D1 });
    expect(repositories.calls).toEqual([]);
  });

  it('looks up a pinned source before it creates a repository for it, and only once', async () => {
    const { registry, repositories, deps } = setup();
    const pinned = { ...job, source: parseImageReference(`quay.io/a/b:1@${D2}`) };
    const missing = mirrorImage(pinned, deps);
    await expect(missing).rejects.toThrow(`looking up source "quay.io/a/b:1@${D2}": no such image (404)`);
    expect(repositories.calls).toEqual([`check ${REPO} quay.io/a/b`]);

    registry.digests.set(`quay.io/a/b:1@${D2}`, D2);
    registry.calls.length = 0;
    expect(await mirrorImage(pinned, deps)).toMatchObject({ status: 'copied', digest: D2, repository: { created: true } });
    // The pin itself once; its tag gets a HEAD of its own, for the drift check.
    expect(registry.calls.filter((call) => call.startsWith('HEAD quay.io/a/b:1@'))).toHaveLength(1);
  });

  it('reports a missing source before a failed repository check, and the check failure otherwise', async () => {
    const { registry, repositories, deps } = setup();
    repositories.failCheck = new RepositoryStoreError('describing ECR repository "m/quay.io/a/b": AccessDenied');
    await expect(mirrorImage(job, deps)).rejects.toThrow('no such image (404)');
    registry.digests.set('quay.io/a/b:1', D1);
    await expect(mirrorImage(job, deps)).rejects.toThrow('describing ECR repository "m/quay.io/a/b": AccessDenied');
  });

  it('keeps what was put back in the result of an image whose copy then failed', async () => {
    const { registry, repositories, deps } = setup();
    registry.digests.set('quay.io/a/b:1', D1);
    repositories.existing.set(REPO, { repaired: ['scan on push'] });
    const report = await syncAll({ jobs: [job], errors: [], warnings: [] }, { ...deps, copier: new FakeCopier() });
    expect(report.results[0]).toMatchObject({ status: 'failed', repository: { repaired: ['scan on push'] } });
  });
});
