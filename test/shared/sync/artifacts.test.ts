import { describe, expect, it } from 'vitest';
import { UnverifiedError } from '../../../shared/errors.ts';
import { formatReference, type ImageReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { NOTARY_SIGNATURE_ARTIFACT_TYPE, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../../shared/oci/artifacts.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import type { MirrorJob, Plan } from '../../../shared/plan/plan.ts';
import type { KeyRule, Verified } from '../../../shared/plan/policy.ts';
import type { ArtifactMode, ArtifactReader, ImageCopier, ImageVerifier } from '../../../shared/ports.ts';
import { createImageVerifier } from '../../../shared/signatures/verify-image.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { REFERRERS_MODE_ANNOTATION, REFERRERS_SOURCE_ANNOTATION } from '../../../shared/sync/artifacts.ts';
import { mirrorImage, type SyncDeps, syncAll } from '../../../shared/sync/mirror-image.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';
import { FakeRepositoryStore } from '../../fakes/repository-store.ts';
import { sha256Digest } from '../../support/oci-push.ts';
import { bundleReferrer, generateSigningKey } from '../../support/signing.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const IMAGE = digest('1');
const SIG = digest('5');
const SIG2 = digest('6');
const ATT = digest('7');
const BUNDLE = digest('8');
const SBOM = digest('9');
const NOTARY = digest('a');
const hex = (d: string) => d.slice('sha256:'.length);
const SRC = 'quay.io/a/b';
const DST = 'mirror.example.com/quay.io/a/b';
const job: MirrorJob = { source: parseImageReference(`${SRC}:1`), target: parseImageReference(`${DST}:1`), files: ['quay.io/a/b/Dockerfile'] };
const plan = (jobs: MirrorJob[] = [job]): Plan => ({ jobs, errors: [], warnings: [] });
const referrer = (d: string, artifactType: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 100, artifactType });
const rule: KeyRule = { name: 'acme', by: 'key', images: ['quay.io/**'], key: { path: 'keys/acme.pub', pem: 'PEM' } };

/** A source holding the image (a single image's manifest type) and its `.sig` tag; the copier makes the target hold what it copied, as crane does. */
function setup(options: { signature?: string | undefined } = {}) {
  const registry = new FakeManifestRegistry();
  registry.digests.set(`${SRC}:1`, IMAGE);
  registry.mediaTypes.set(`${SRC}:1`, 'application/vnd.oci.image.manifest.v1+json');
  registry.mediaTypes.set(`${DST}:1`, 'application/vnd.oci.image.manifest.v1+json');
  const signature = 'signature' in options ? options.signature : SIG;
  if (signature !== undefined) registry.digests.set(`${SRC}:sha256-${hex(IMAGE)}.sig`, signature);
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  const repositories = new FakeRepositoryStore();
  const deps: SyncDeps = { registry, copier, credentials: new StaticCredentialProvider() };
  return { registry, copier, repositories, deps };
}

const copied = (copier: FakeCopier) => copier.requests.map((request) => `${formatReference(request.source)} -> ${formatReference(request.target)}`);
const sourceGets = (registry: FakeManifestRegistry) => registry.calls.filter((call) => call.startsWith(`GET ${SRC}`));

describe('the artifacts that travel with an image (fakes)', () => {
  it("copies the image's .sig tag by its digest, and on the next run finds it with two HEADs and no GET", async () => {
    const { registry, copier, deps } = setup();
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'copied', artifacts: { copied: 1, present: 0 } });
    expect(copied(copier)).toEqual([`${SRC}@${IMAGE} -> ${DST}:1`, `${SRC}@${SIG} -> ${DST}:sha256-${hex(IMAGE)}.sig`]);
    expect(registry.digests.get(`${DST}:sha256-${hex(IMAGE)}.sig`)).toBe(SIG);

    registry.calls.length = 0;
    copier.requests.length = 0;
    expect(await mirrorImage(job, deps)).toEqual({ status: 'skipped', digest: IMAGE, artifacts: { copied: 0, present: 1 } });
    expect(copier.requests).toEqual([]);
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
  });

  it('gets the new signature of an image re-signed upstream, the image unchanged', async () => {
    const { registry, copier, deps } = setup();
    await mirrorImage(job, deps);
    registry.digests.set(`${SRC}:sha256-${hex(IMAGE)}.sig`, SIG2);
    copier.requests.length = 0;
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'skipped', artifacts: { copied: 1, present: 0 } });
    expect(copied(copier)).toEqual([`${SRC}@${SIG2} -> ${DST}:sha256-${hex(IMAGE)}.sig`]);
  });

  it.each<{ mode: ArtifactMode; tags: string[]; referrers: string[] }>([
    { mode: 'none', tags: [], referrers: [] },
    { mode: 'signatures', tags: ['sig'], referrers: [BUNDLE, NOTARY] },
    { mode: 'all', tags: ['sig', 'att'], referrers: [BUNDLE, SBOM, NOTARY] },
  ])('copies what --artifacts $mode takes, from a source serving the referrers API', async ({ mode, tags, referrers }) => {
    const { registry, copier, deps } = setup();
    registry.digests.set(`${SRC}:sha256-${hex(IMAGE)}.att`, ATT);
    registry.servesReferrers.add('quay.io');
    registry.servesReferrers.add('mirror.example.com');
    registry.referrers.set(`${SRC}@${IMAGE}`, [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(SBOM, 'application/spdx+json'), referrer(NOTARY, NOTARY_SIGNATURE_ARTIFACT_TYPE)]);
    const outcome = await mirrorImage(job, deps, { artifacts: mode });
    const tagCopies = tags.map((suffix) => `${SRC}@${suffix === 'sig' ? SIG : ATT} -> ${DST}:sha256-${hex(IMAGE)}.${suffix}`);
    expect(copied(copier).slice(1)).toEqual([...tagCopies, ...referrers.map((d) => `${SRC}@${d} -> ${DST}@${d}`)]);
    expect(outcome.artifacts).toEqual(mode === 'none' ? undefined : { copied: tags.length + referrers.length, present: 0 });
    // The target serves the API: no referrers tag is written there.
    expect(registry.calls.filter((call) => call.startsWith('PUT'))).toEqual([]);
    expect(sourceGets(registry)).toEqual([]);
  });

  it('reads a tag-scheme source\'s referrers tag once (a pull), writes it to the target as it is, and on the next run reads nothing', async () => {
    const { registry, copier, deps } = setup({ signature: undefined });
    registry.budgets.set('quay.io', { limit: 100, remaining: 50, windowSeconds: 21_600 });
    const tagIndex = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)] });
    const bytes = new TextEncoder().encode(tagIndex);
    const tagDigest = await registry.putManifest(parseImageReference(`${SRC}:sha256-${hex(IMAGE)}`), bytes, OCI_INDEX);
    registry.manifests.set(`${SRC}@${tagDigest}`, { ...registry.manifests.get(`${SRC}:sha256-${hex(IMAGE)}`)!, bytes });
    registry.calls.length = 0;

    const first = await syncAll(plan(), deps);
    expect(first.results[0]).toMatchObject({ status: 'copied', artifacts: { copied: 1, present: 0 }, pulls: 3 });
    expect(sourceGets(registry)).toEqual([`GET ${SRC}@${tagDigest}`]);
    expect(registry.digests.get(`${DST}:sha256-${hex(IMAGE)}`)).toBe(tagDigest);
    expect(copied(copier)).toContain(`${SRC}@${BUNDLE} -> ${DST}@${BUNDLE}`);

    registry.calls.length = 0;
    const second = await syncAll(plan(), deps);
    expect(second.results[0]).toMatchObject({ status: 'skipped', artifacts: { copied: 0, present: 1 } });
    expect(second.results[0]).not.toHaveProperty('pulls');
    expect(sourceGets(registry)).toEqual([]);
  });

  it('keeps the referrers it did not take out of the target\'s referrers tag, and still tells by HEADs that nothing changed', async () => {
    const { registry, deps } = setup({ signature: undefined });
    const tagIndex = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(SBOM, 'application/spdx+json')] });
    const bytes = new TextEncoder().encode(tagIndex);
    const tagDigest = await registry.putManifest(parseImageReference(`${SRC}:sha256-${hex(IMAGE)}`), bytes, OCI_INDEX);
    registry.manifests.set(`${SRC}@${tagDigest}`, { ...registry.manifests.get(`${SRC}:sha256-${hex(IMAGE)}`)!, bytes });

    await mirrorImage(job, deps);
    const written = registry.manifests.get(`${DST}:sha256-${hex(IMAGE)}`)!;
    expect(written.json.manifests?.map((d) => d.digest)).toEqual([BUNDLE]);
    expect(written.json.annotations).toEqual({ [REFERRERS_SOURCE_ANNOTATION]: tagDigest, [REFERRERS_MODE_ANNOTATION]: 'signatures' });

    registry.calls.length = 0;
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'skipped', artifacts: { copied: 0, present: 1 } });
    expect(sourceGets(registry)).toEqual([]);
    // Another mode takes other referrers: the source's index is read again.
    expect(await mirrorImage(job, deps, { artifacts: 'all' })).toMatchObject({ status: 'skipped', artifacts: { copied: 1, present: 1 } });
  });

  it("adds the referrers copied from an API source to the referrers tag of a target that does not serve the API", async () => {
    const { registry, deps } = setup({ signature: undefined });
    registry.servesReferrers.add('quay.io');
    registry.referrers.set(`${SRC}@${IMAGE}`, [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)]);
    await mirrorImage(job, deps);
    expect(registry.manifests.get(`${DST}:sha256-${hex(IMAGE)}`)?.json.manifests?.map((d) => d.digest)).toEqual([BUNDLE]);
    registry.calls.length = 0;
    expect(await mirrorImage(job, deps)).toMatchObject({ artifacts: { copied: 0, present: 1 } });
    expect(registry.calls.filter((call) => call.startsWith('PUT'))).toEqual([]);
  });

  it("copies the signatures of each image of an index copied, and for an index found unchanged looks at its own digest's only", async () => {
    const { registry, copier, deps } = setup({ signature: undefined });
    const [amd64, arm64] = [digest('b'), digest('c')];
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [amd64, arm64].map((d) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 1, platform: { os: 'linux', architecture: 'amd64' } })) });
    const bytes = new TextEncoder().encode(index);
    const indexDigest = sha256Digest(bytes);
    registry.digests.set(`${SRC}:1`, indexDigest);
    registry.mediaTypes.set(`${SRC}:1`, OCI_INDEX);
    registry.mediaTypes.delete(`${DST}:1`);
    registry.manifests.set(`${SRC}@${indexDigest}`, { digest: indexDigest, mediaType: OCI_INDEX, body: index, bytes, json: JSON.parse(index) });
    registry.digests.set(`${SRC}:sha256-${hex(indexDigest)}.sig`, SIG);
    registry.digests.set(`${SRC}:sha256-${hex(arm64)}.sig`, SIG2);
    registry.budgets.set('quay.io', { limit: 100, remaining: 50, windowSeconds: 21_600 });
    const landing = new FakeCopier((request) => {
      registry.digests.set(formatReference(request.target), request.source.digest ?? '');
    });
    const first = await syncAll(plan(), { ...deps, copier: landing });
    expect(first.results[0]).toMatchObject({ status: 'copied', artifacts: { copied: 2, present: 0 }, pulls: 5 });
    // The digests' artifacts are copied at once: in no set order.
    expect(copied(landing).slice(2).sort()).toEqual([`${SRC}@${SIG} -> ${DST}:sha256-${hex(indexDigest)}.sig`, `${SRC}@${SIG2} -> ${DST}:sha256-${hex(arm64)}.sig`].sort());

    registry.calls.length = 0;
    const second = await syncAll(plan(), { ...deps, copier: landing });
    expect(second.results[0]).toMatchObject({ status: 'skipped', artifacts: { copied: 0, present: 1 } });
    expect(sourceGets(registry)).toEqual([]);
    // No GET of the target's index, and no HEAD of its images' signatures: a no-op costs an index what it costs an image.
    expect(registry.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
    expect(registry.calls.filter((call) => call.includes(hex(arm64)) || call.includes(hex(amd64)))).toEqual([]);
    expect(copier.requests).toEqual([]);
  });

  it('fails the image, naming the artifact and the image, when an artifact does not copy; a dry run copies none', async () => {
    const { registry, deps } = setup();
    const failing = new FakeCopier((request) => {
      if (request.target.tag?.endsWith('.sig')) throw new Error('connection reset');
      registry.digests.set(formatReference(request.target), request.source.digest ?? '');
    });
    const report = await syncAll(plan(), { ...deps, copier: failing }, { copyRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    expect(report.results[0]).toMatchObject({ status: 'failed', digest: IMAGE, retryable: true });
    expect(report.results[0]?.error).toContain(`copying the signature "${SRC}:sha256-${hex(IMAGE)}.sig" of "${SRC}@${IMAGE}" to "${DST}:sha256-${hex(IMAGE)}.sig": `);
    expect(report.results[0]?.error).toContain('connection reset');

    const fresh = setup();
    const dry = await syncAll(plan(), fresh.deps, { dryRun: true });
    expect(dry.results[0]).toMatchObject({ status: 'would-copy' });
    expect(dry.results[0]).not.toHaveProperty('artifacts');
    expect(fresh.copier.requests).toEqual([]);
  });
});

/** A verifier that reads the `.sig` manifest through the reader it is given (a GET) and says yes or no. */
function stubVerifier(accept: boolean): ImageVerifier & { readonly images: string[] } {
  const images: string[] = [];
  return {
    images,
    async verify(verifyRule, image: ImageReference, reader: ArtifactReader): Promise<Verified> {
      images.push(formatReference(image));
      const tag = `sha256-${hex(image.digest ?? '')}.sig`;
      const head = await reader.headManifest({ registry: image.registry, repository: image.repository, tag });
      if (head !== undefined) await reader.getManifest({ registry: image.registry, repository: image.repository, digest: head.digest });
      if (!accept || head === undefined) throw new UnverifiedError(`verifying "${formatReference(image)}": no signature verifies with the key ${verifyRule.by === 'key' ? verifyRule.key.path : ''}`);
      return { rule: verifyRule.name, by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' };
    },
  };
}

describe('the policy hook (stub verifier)', () => {
  const covered: MirrorJob = { ...job, verify: rule };

  it('refuses an image the verifier refuses: failed, unverified, no repository created, nothing copied', async () => {
    const { registry, copier, repositories, deps } = setup();
    const report = await syncAll(plan([covered]), { ...deps, repositories, verifier: stubVerifier(false) });
    expect(report.results[0]).toMatchObject({ status: 'failed', reason: 'unverified', retryable: false, digest: IMAGE });
    expect(report.results[0]?.error).toContain('no signature verifies with the key keys/acme.pub');
    expect(repositories.calls.filter((call) => call.startsWith('ensure'))).toEqual([]);
    expect(copier.requests).toEqual([]);
    expect(registry.calls.filter((call) => call.startsWith('PUT'))).toEqual([]);
  });

  it('fails closed for a job with a rule and no verifier', async () => {
    const { copier, repositories, deps } = setup();
    const report = await syncAll(plan([covered]), { ...deps, repositories });
    expect(report.results[0]).toMatchObject({ status: 'failed', reason: 'unverified' });
    expect(report.results[0]?.error).toContain('the policy rule "acme" covers it and this run has no signature verifier');
    expect(repositories.calls.filter((call) => call.startsWith('ensure'))).toEqual([]);
    expect(copier.requests).toEqual([]);
  });

  it('says how the image was verified, charges its GETs to the pull budget, and verifies an unchanged image from the target', async () => {
    const { registry, deps } = setup();
    registry.budgets.set('quay.io', { limit: 100, remaining: 50, windowSeconds: 21_600 });
    const verifier = stubVerifier(true);
    const first = await syncAll(plan([covered]), { ...deps, verifier });
    expect(first.results[0]).toMatchObject({ status: 'copied', verified: { rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' }, pulls: 3 });
    expect(sourceGets(registry)).toEqual([`GET ${SRC}@${SIG}`]);

    registry.calls.length = 0;
    const second = await syncAll(plan([covered]), { ...deps, verifier });
    expect(second.results[0]).toMatchObject({ status: 'skipped', verified: { rule: 'acme' } });
    expect(second.results[0]).not.toHaveProperty('pulls');
    expect(sourceGets(registry)).toEqual([]);
    expect(registry.calls).toContain(`GET ${DST}@${SIG}`);
    // The verifier is told of the source image, whichever registry it reads.
    expect(verifier.images).toEqual([`${SRC}@${IMAGE}`, `${SRC}@${IMAGE}`]);
  });

  it('verifies from the source when the target holds another signature', async () => {
    const { registry, deps } = setup();
    const verifier = stubVerifier(true);
    await syncAll(plan([covered]), { ...deps, verifier });
    registry.digests.set(`${SRC}:sha256-${hex(IMAGE)}.sig`, SIG2);
    registry.calls.length = 0;
    const report = await syncAll(plan([covered]), { ...deps, verifier });
    expect(report.results[0]).toMatchObject({ status: 'skipped', verified: { rule: 'acme' }, artifacts: { copied: 1 } });
    expect(sourceGets(registry)).toEqual([`GET ${SRC}@${SIG2}`]);
  });
});

describe('the referrers tag of a target without the API, and copy slots (fakes)', () => {
  const tagOf = (d: string) => `${DST}:sha256-${hex(d)}`;

  it("rewrites an entry crane listed under its config's media type with the source's descriptor", async () => {
    const { registry, deps } = setup({ signature: undefined });
    registry.servesReferrers.add('quay.io');
    registry.referrers.set(`${SRC}@${IMAGE}`, [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)]);
    // crane's commitSubjectReferrers: the copied referrer added to the tag index with artifactType = its config's media type.
    const crane = new FakeCopier((request) => {
      registry.digests.set(formatReference(request.target), request.source.digest ?? '');
      if (request.source.digest === BUNDLE) {
        const wrong = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [referrer(BUNDLE, 'application/vnd.oci.empty.v1+json')] });
        void registry.putManifest(parseImageReference(tagOf(IMAGE)), wrong, OCI_INDEX);
      }
    });
    await mirrorImage(job, { ...deps, copier: crane });
    expect(registry.manifests.get(tagOf(IMAGE))?.json.manifests).toEqual([referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)]);
  });

  it("merges a tag-scheme source's referrers into what the target's tag lists already", async () => {
    const { registry, deps } = setup({ signature: undefined });
    const tagIndex = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)] }));
    const tagDigest = await registry.putManifest(parseImageReference(`${SRC}:sha256-${hex(IMAGE)}`), tagIndex, OCI_INDEX);
    registry.manifests.set(`${SRC}@${tagDigest}`, { ...registry.manifests.get(`${SRC}:sha256-${hex(IMAGE)}`)!, bytes: tagIndex });
    const own = referrer(NOTARY, NOTARY_SIGNATURE_ARTIFACT_TYPE);
    await registry.putManifest(parseImageReference(tagOf(IMAGE)), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [own] }), OCI_INDEX);
    await mirrorImage(job, deps);
    expect(registry.manifests.get(tagOf(IMAGE))?.json.manifests?.map((d) => d.digest)).toEqual([NOTARY, BUNDLE]);
  });

  it("refuses a target referrers tag that is not an OCI index, naming the tag, and leaves it as it is", async () => {
    const { registry, deps } = setup({ signature: undefined });
    registry.servesReferrers.add('quay.io');
    registry.referrers.set(`${SRC}@${IMAGE}`, [referrer(BUNDLE, SIGSTORE_BUNDLE_ARTIFACT_TYPE)]);
    await registry.putManifest(parseImageReference(tagOf(IMAGE)), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }), 'application/vnd.oci.image.manifest.v1+json');
    const report = await syncAll(plan(), deps);
    expect(report.results[0]).toMatchObject({ status: 'failed' });
    expect(report.results[0]?.error).toContain(`the target's referrers tag "${tagOf(IMAGE)}" holds a application/vnd.oci.image.manifest.v1+json, not an OCI image index`);
  });

  it('runs every artifact copy of images found unchanged in one of the copy slots', async () => {
    const { registry, deps } = setup();
    const other: MirrorJob = { source: parseImageReference(`${SRC}:2`), target: parseImageReference(`${DST}:2`), files: ['quay.io/a/b/Dockerfile'] };
    for (const tag of ['1', '2']) {
      registry.digests.set(`${SRC}:${tag}`, IMAGE);
      registry.digests.set(`${DST}:${tag}`, IMAGE);
    }
    let running = 0;
    let most = 0;
    const slow: ImageCopier = {
      async copy(request) {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        registry.digests.set(formatReference(request.target), request.source.digest ?? '');
        running -= 1;
      },
    };
    // Two images, each with its `.sig` to copy and its own digest's tag: without slots both copies run at once.
    registry.digests.set(`${SRC}:sha256-${hex(IMAGE)}.sig`, SIG);
    const report = await syncAll(plan([job, other]), { ...deps, copier: slow }, { concurrency: 1 });
    expect(report.results.map((result) => result.status)).toEqual(['skipped', 'skipped']);
    expect(most).toBe(1);
  });
});

describe('a no-op over a bundle-only signed image, with the real verifier (fakes)', () => {
  it('verifies it from the target and spends no GET on the source', async () => {
    const key = generateSigningKey();
    const keyRule: KeyRule = { name: 'acme', by: 'key', images: ['quay.io/**'], key: { path: 'keys/acme.pub', pem: key.publicPem } };
    const { registry, deps } = setup({ signature: undefined });
    registry.servesReferrers.add('quay.io');
    registry.servesReferrers.add('mirror.example.com');
    const bundle = await bundleReferrer(IMAGE, { key });
    registry.manifests.set(`${SRC}@${bundle.digest}`, { digest: bundle.digest, mediaType: bundle.mediaType, body: bundle.body, json: JSON.parse(bundle.body) });
    for (const blob of bundle.blobs) registry.blobs.set(`${SRC}@${blob.digest}`, blob.bytes);
    const descriptor = { mediaType: bundle.mediaType, digest: bundle.digest, size: Buffer.byteLength(bundle.body), artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE };
    registry.referrers.set(`${SRC}@${IMAGE}`, [descriptor]);
    // Copies as a registry serving the referrers API lands them: the manifest, its blobs, and the subject's list.
    const copier = new FakeCopier((request) => {
      const to = formatReference(request.target);
      registry.digests.set(to, request.source.digest ?? '');
      const manifest = registry.manifests.get(formatReference(request.source));
      if (manifest === undefined) return;
      registry.manifests.set(to, manifest);
      for (const blob of bundle.blobs) registry.blobs.set(`${DST}@${blob.digest}`, blob.bytes);
      registry.referrers.set(`${DST}@${IMAGE}`, [descriptor]);
    });
    const covered: MirrorJob = { ...job, verify: keyRule };
    const verifier = createImageVerifier();
    const first = await syncAll(plan([covered]), { ...deps, copier, verifier });
    expect(first.results[0]).toMatchObject({ status: 'copied', verified: { rule: 'acme', by: 'key', signature: 'referrer' }, artifacts: { copied: 1 } });

    registry.calls.length = 0;
    const second = await syncAll(plan([covered]), { ...deps, copier, verifier });
    expect(second.results[0]).toMatchObject({ status: 'skipped', verified: { rule: 'acme', by: 'key', signature: 'referrer' }, artifacts: { copied: 0, present: 1 } });
    expect(sourceGets(registry)).toEqual([]);
    expect(registry.calls.filter((call) => call.startsWith(`BLOB ${SRC}`))).toEqual([]);
  });
});
