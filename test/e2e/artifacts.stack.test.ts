import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { UnverifiedError } from '../../shared/errors.ts';
import { formatReference, parseImageReference } from '../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../shared/image-ref/target.ts';
import { SIGSTORE_BUNDLE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE } from '../../shared/oci/artifacts.ts';
import type { MirrorJob } from '../../shared/plan/plan.ts';
import type { ArtifactMode, CopyRequest, ImageVerifier } from '../../shared/ports.ts';
import { syncAll } from '../../shared/sync/mirror-image.ts';
import { createSyncDeps } from '../../shared/wiring/sync.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { pushBlob, pushManifest, sha256Digest } from '../support/oci-push.ts';
import { type ReferrersRegistry, startReferrersRegistry } from '../support/referrers-registry.ts';
import { simpleSigningPayload } from '../support/signing.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SPDX = 'application/spdx+json';
const hex = (digest: string) => digest.slice('sha256:'.length);

interface Subject {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** A cosign-style tag manifest (`.sig`, `.att`, `.sbom`): one layer of `layerType` with `payload`, in cosign's layout. */
async function pushTagArtifact(registry: string, repository: string, tag: string, layerType: string, payload: string, annotations: Record<string, string> = {}): Promise<string> {
  const config = await pushBlob(registry, repository, '{}', 'application/vnd.oci.image.config.v1+json');
  const layer = await pushBlob(registry, repository, payload, layerType);
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, annotations }] };
  return (await pushManifest(registry, repository, tag, manifest, OCI_MANIFEST)).digest;
}

/** A fake cosign `.sig` of `subject`: a simple-signing payload naming its digest, a signature annotation (validity is not tested here). */
function pushSignature(registry: string, repository: string, subject: Subject, signature: string): Promise<string> {
  const payload = simpleSigningPayload(subject.digest, `${registry}/${repository}`).toString('utf8');
  return pushTagArtifact(registry, repository, `sha256-${hex(subject.digest)}.sig`, SIMPLE_SIGNING_MEDIA_TYPE, payload, { 'dev.cosignproject.cosign/signature': Buffer.from(signature).toString('base64') });
}

/** An OCI 1.1 referrer of `subject`: an artifact manifest with an empty config, pushed by its digest; its descriptor. */
async function pushReferrer(registry: string, repository: string, subject: Subject, artifactType: string, content: string): Promise<Subject & { artifactType: string }> {
  const config = await pushBlob(registry, repository, '{}', 'application/vnd.oci.empty.v1+json');
  const layer = await pushBlob(registry, repository, content, artifactType);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config, layers: [layer], subject });
  const { digest, size } = await pushManifest(registry, repository, sha256Digest(manifest), manifest, OCI_MANIFEST);
  return { mediaType: OCI_MANIFEST, digest, size, artifactType };
}

describe('artifacts travel with the image (real registries, real crane)', () => {
  const s = stack();
  const auth = { username: s.targetUsername, password: s.targetPassword };
  const basic = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  const ns = uniqueName('art');
  let apiSource: ReferrersRegistry;
  let apiTarget: ReferrersRegistry;
  let watched: FaultProxy;

  beforeAll(async () => {
    [apiSource, apiTarget, watched] = await Promise.all([startReferrersRegistry(s.sourceRegistry), startReferrersRegistry(s.targetRegistry), watchSource()]);
  });
  afterAll(async () => {
    await Promise.all([apiSource?.close(), apiTarget?.close(), watched?.close()]);
  });

  /** Mirrors `sources` into `<targetHost>/<prefix>` with the real adapters, the copies counted. */
  const sync = async (sources: readonly string[], targetHost: string, prefix: string, options: { artifacts?: ArtifactMode; verifier?: ImageVerifier; verify?: MirrorJob['verify'] } = {}) => {
    const base = parseTargetBase(`${targetHost}/${prefix}`);
    const deps = createSyncDeps({ target: base, ecr: false, crane: s.crane, copyTimeoutMs: 60_000, credentials: new Map([[targetHost, auth]]) });
    const copies: CopyRequest[] = [];
    const copier = { copy: (request: CopyRequest) => (copies.push(request), deps.copier.copy(request)) };
    const jobs = sources.map((text): MirrorJob => {
      const source = parseImageReference(text);
      return { source, target: targetFor(source, base), files: ['Dockerfile'], ...(options.verify ? { verify: options.verify } : {}) };
    });
    const report = await syncAll({ jobs, errors: [], warnings: [] }, { ...deps, copier, ...(options.verifier ? { verifier: options.verifier } : {}) }, options.artifacts ? { artifacts: options.artifacts } : {});
    return { report, copies, targetRepo: (i = 0) => jobs[i]!.target!.repository };
  };
  const targetSeed = (host: string): SeedTarget => ({ registry: host, auth });
  const referrersOn = async (host: string, repository: string, digest: string): Promise<{ digest: string; artifactType?: string }[]> => {
    const answer = await fetch(`http://${host}/v2/${repository}/referrers/${digest}`, { headers: { authorization: basic } });
    expect(answer.status).toBe(200);
    return ((await answer.json()) as { manifests: { digest: string; artifactType?: string }[] }).manifests;
  };

  it("copies the .sig tag and the referrers the mode takes, with the source's digests (source and target serving the referrers API)", async () => {
    const repo = `${ns}/api`;
    const image = await pushImage({ registry: apiSource.host }, repo, '1');
    const signature = await pushSignature(apiSource.host, repo, image, 'sig-1');
    const attestation = await pushTagArtifact(apiSource.host, repo, `sha256-${hex(image.digest)}.att`, 'application/vnd.dsse.envelope.v1+json', '{"payload":""}');
    const bundle = await pushReferrer(apiSource.host, repo, image, SIGSTORE_BUNDLE_ARTIFACT_TYPE, '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
    const sbom = await pushReferrer(apiSource.host, repo, image, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    // What the emulator serves is what the spec describes: the filter applied and said so.
    const filtered = await fetch(`http://${apiSource.host}/v2/${repo}/referrers/${image.digest}?artifactType=${encodeURIComponent(SPDX)}`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([sbom.digest]);
    const source = `${apiSource.host}/${repo}:1`;
    const target = targetSeed(apiTarget.host);

    const none = await sync([source], apiTarget.host, `${ns}-none`, { artifacts: 'none' });
    expect(none.report.results[0]).toMatchObject({ status: 'copied', digest: image.digest });
    expect(none.copies).toHaveLength(1);
    expect(await manifestDigest(target, none.targetRepo(), `sha256-${hex(image.digest)}.sig`)).toBeUndefined();
    expect(await referrersOn(apiTarget.host, none.targetRepo(), image.digest)).toEqual([]);

    const signatures = await sync([source], apiTarget.host, `${ns}-api`);
    expect(signatures.report.results[0]).toMatchObject({ status: 'copied', artifacts: { copied: 2, present: 0 } });
    const repoOnTarget = signatures.targetRepo();
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.sig`)).toBe(signature);
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.att`)).toBeUndefined();
    expect(await referrersOn(apiTarget.host, repoOnTarget, image.digest)).toEqual([expect.objectContaining({ digest: bundle.digest, artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE })]);
    // A target serving the API lists the referrers itself: no referrers tag is written there.
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}`)).toBeUndefined();

    const all = await sync([source], apiTarget.host, `${ns}-api`, { artifacts: 'all' });
    expect(all.report.results[0]).toMatchObject({ status: 'skipped', artifacts: { copied: 2, present: 2 } });
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.att`)).toBe(attestation);
    expect((await referrersOn(apiTarget.host, repoOnTarget, image.digest)).map((m) => m.digest).sort()).toEqual([bundle.digest, sbom.digest].sort());
  });

  it('copies from a tag-scheme source to a target without the API, spends no source GET on a rerun, and gets a new signature with one GET', async () => {
    const repo = `${ns}/tags`;
    const image = await pushImage({ registry: s.sourceRegistry }, repo, '1');
    const signature = await pushSignature(s.sourceRegistry, repo, image, 'sig-1');
    const bundle = await pushReferrer(s.sourceRegistry, repo, image, SIGSTORE_BUNDLE_ARTIFACT_TYPE, '{"bundle":1}');
    const sbom = await pushReferrer(s.sourceRegistry, repo, image, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    await pushManifest(s.sourceRegistry, repo, `sha256-${hex(image.digest)}`, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [bundle, sbom] }, OCI_INDEX);
    await pushTagArtifact(s.sourceRegistry, repo, `sha256-${hex(image.digest)}.sbom`, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    const source = `${watched.host}/${repo}:1`;
    const target = targetSeed(s.targetRegistry);

    const first = await sync([source], s.targetRegistry, `${ns}-tags`);
    expect(first.report.results[0]).toMatchObject({ status: 'copied', artifacts: { copied: 2, present: 0 } });
    const repoOnTarget = first.targetRepo();
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.sig`)).toBe(signature);
    expect(await manifestDigest(target, repoOnTarget, bundle.digest)).toBe(bundle.digest);
    expect(await manifestDigest(target, repoOnTarget, sbom.digest)).toBeUndefined();
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.sbom`)).toBeUndefined();
    // The target's referrers tag lists what was taken, for clients of a registry without the API.
    const tagIndex = (await fetch(`http://${s.targetRegistry}/v2/${repoOnTarget}/manifests/sha256-${hex(image.digest)}`, { headers: { accept: OCI_INDEX, authorization: basic } }).then((r) => r.json())) as { manifests: { digest: string }[] };
    expect(tagIndex.manifests.map((m) => m.digest)).toEqual([bundle.digest]);

    let mark = watched.log.length;
    const second = await sync([source], s.targetRegistry, `${ns}-tags`);
    expect(second.report.results[0]).toMatchObject({ status: 'skipped', artifacts: { copied: 0, present: 2 } });
    expect(manifestRequests(watched.log.slice(mark), ns, 'GET')).toEqual([]);
    expect(second.copies).toEqual([]);

    const resigned = await pushSignature(s.sourceRegistry, repo, image, 'sig-2');
    expect(resigned).not.toBe(signature);
    mark = watched.log.length;
    const third = await sync([source], s.targetRegistry, `${ns}-tags`);
    expect(third.report.results[0]).toMatchObject({ status: 'skipped', artifacts: { copied: 1, present: 1 } });
    expect(manifestRequests(watched.log.slice(mark), ns, 'GET')).toEqual([expect.objectContaining({ path: `/v2/${repo}/manifests/${resigned}` })]);
    expect(await manifestDigest(target, repoOnTarget, `sha256-${hex(image.digest)}.sig`)).toBe(resigned);
  });

  it('refuses an image a policy rule covers when the verifier refuses it: nothing copied, no repository in the target', async () => {
    const repo = `${ns}/refused`;
    const image = await pushImage({ registry: s.sourceRegistry }, repo, '1');
    await pushSignature(s.sourceRegistry, repo, image, 'sig-1');
    const refusing: ImageVerifier = {
      verify: async (rule, ref) => {
        throw new UnverifiedError(`verifying "${formatReference(ref)}": signature does not verify with the key ${rule.by === 'key' ? rule.key.path : ''}`);
      },
    };
    const verify = { name: 'acme', by: 'key' as const, images: ['**'], key: { path: 'keys/acme.pub', pem: 'PEM' } };
    const run = await sync([`${s.sourceRegistry}/${repo}:1`], s.targetRegistry, `${ns}-refused`, { verifier: refusing, verify });
    expect(run.report.results[0]).toMatchObject({ status: 'failed', reason: 'unverified', retryable: false, digest: image.digest });
    expect(run.report.results[0]?.error).toContain('signature does not verify with the key keys/acme.pub');
    expect(run.copies).toEqual([]);
    // The registry knows no such repository: nothing was ever pushed to it.
    const tags = await fetch(`http://${s.targetRegistry}/v2/${run.targetRepo()}/tags/list`, { headers: { authorization: basic } });
    expect(tags.status).toBe(404);
    expect(await tags.text()).toContain('NAME_UNKNOWN');
  });
});
