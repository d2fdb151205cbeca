import { describe, expect, it } from 'vitest';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import { parsePlatform } from '../../../shared/oci/platform.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { mirrorImage } from '../../../shared/sync/mirror-image.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

// A platform filter meets an image of one platform: it is mirrored whole (it is what the Dockerfile names), and the
// result says so, from what the look-ups tell for free (a HEAD's media type) or what the copy had to read anyway.

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const SOURCE = 'quay.io/a/b:1';
const TARGET = 'mirror.example.com/quay.io/a/b:1';
const job = { source: parseImageReference(SOURCE), target: parseImageReference(TARGET), files: ['quay.io/a/b/Dockerfile'] };
const arm64 = [parsePlatform('linux/arm64')];
const notice = (done: string) => `single-platform image: ${done}; the platforms asked (linux/arm64) apply to multi-platform indexes only`;

function deps(registry: FakeManifestRegistry) {
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  return { registry, copier, credentials: new StaticCredentialProvider() };
}

/** The source tag naming one image, its HEAD telling the media type when `told`. */
function singleImage(told: boolean): FakeManifestRegistry {
  const registry = new FakeManifestRegistry();
  registry.digests.set(SOURCE, D1);
  if (told) registry.mediaTypes.set(SOURCE, IMAGE);
  const body = JSON.stringify({ schemaVersion: 2, mediaType: IMAGE, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D2, size: 2 }, layers: [] });
  registry.manifests.set(`quay.io/a/b@${D1}`, { digest: D1, mediaType: IMAGE, body, json: JSON.parse(body) });
  return registry;
}

describe('mirrorImage with a platform filter and a single-platform image (fakes)', () => {
  it('copies the image whole, by its digest, and says that the filter did not apply', async () => {
    const registry = singleImage(true);
    const ports = deps(registry);
    const outcome = await mirrorImage(job, ports, { platforms: arm64 });
    expect(outcome).toMatchObject({ status: 'copied', digest: D1, notices: [notice('copied whole')] });
    expect(ports.copier.requests.map((request) => formatReference(request.source))).toEqual([`quay.io/a/b@${D1}`]);
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
  });

  it('says so too where only the copy found out, having read the manifest it needed anyway', async () => {
    const registry = singleImage(false);
    const outcome = await mirrorImage(job, deps(registry), { platforms: arm64 });
    expect(outcome).toMatchObject({ status: 'copied', digest: D1, notices: [notice('copied whole')] });
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([`GET quay.io/a/b@${D1}`]);
  });

  it.each([
    { status: 'would-copy', dryRun: true, targetHolds: undefined, done: 'would be copied whole' },
    { status: 'skipped', dryRun: false, targetHolds: D1, done: 'the target holds it whole' },
    { status: 'would-skip', dryRun: true, targetHolds: D1, done: 'the target holds it whole' },
  ])('says so for a $status image, from the HEAD alone', async ({ status, dryRun, targetHolds, done }) => {
    const registry = singleImage(true);
    if (targetHolds !== undefined) registry.digests.set(TARGET, targetHolds);
    const outcome = await mirrorImage(job, deps(registry), { platforms: arm64, dryRun });
    expect(outcome).toMatchObject({ status, notices: [notice(done)] });
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
  });

  it('says nothing without a filter, nor for an index, nor where nothing told what the image is', async () => {
    expect(await mirrorImage(job, deps(singleImage(true)))).not.toHaveProperty('notices');

    const index = new FakeManifestRegistry();
    index.digests.set(SOURCE, D1);
    index.mediaTypes.set(SOURCE, OCI_INDEX);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: IMAGE, digest: D2, size: 1, platform: { os: 'linux', architecture: 'arm64' } }] });
    index.manifests.set(`quay.io/a/b@${D1}`, { digest: D1, mediaType: OCI_INDEX, body, json: JSON.parse(body) });
    const copied = await mirrorImage(job, deps(index), { platforms: arm64 });
    expect(copied).toMatchObject({ status: 'copied' });
    expect(copied).not.toHaveProperty('notices');

    // A dry run reads no manifest: a HEAD without a media type leaves it unknown, and nothing is claimed.
    const unknown = await mirrorImage(job, deps(singleImage(false)), { platforms: arm64, dryRun: true });
    expect(unknown).toMatchObject({ status: 'would-copy' });
    expect(unknown).not.toHaveProperty('notices');
  });

  it('tells a pinned image\'s kind from the HEAD of its tag when the tag still names the pin, with no request on the pin', async () => {
    const pinned = { ...job, source: parseImageReference(`${SOURCE}@${D1}`) };
    const registry = singleImage(true);
    const outcome = await mirrorImage(pinned, deps(registry), { platforms: arm64, dryRun: true });
    expect(outcome).toEqual({ status: 'would-copy', digest: D1, notices: [notice('would be copied whole')] });
    expect(registry.calls.filter((call) => call.includes(`@${D1}`))).toEqual([]);

    // A tag that moved on says nothing of what the pin is.
    registry.digests.set(SOURCE, D2);
    const drifted = await mirrorImage(pinned, deps(registry), { platforms: arm64, dryRun: true });
    expect(drifted.notices).toHaveLength(1);
    expect(drifted.notices?.[0]).toContain(`tag ${SOURCE} now names ${D2}`);
  });
});
