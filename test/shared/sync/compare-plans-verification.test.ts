import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { NOTARY_SIGNATURE_ARTIFACT_TYPE, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../../shared/oci/artifacts.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import { readPolicy, type SignaturePolicy } from '../../../shared/plan/policy.ts';
import type { DockerfileEntry, ReferrerDescriptor } from '../../../shared/ports.ts';
import { comparePlans, lookUpSyncCosts } from '../../../shared/sync/compare-plans.ts';
import { FakeManifestRegistry } from '../../fakes/registry.ts';

// `plan --base` prices the first copy of an image a policy rule covers with the signature reads of its verification:
// the `.sig` manifest GET when the tag is there, one GET per Sigstore bundle referrer, and the referrers tag's index
// where the source serves no referrers API; besides the copies of the artifacts themselves.

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const HEX = (n: number) => D(n).slice('sha256:'.length);
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const SPDX = 'application/spdx+json';
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const referrer = (n: number, artifactType: string): ReferrerDescriptor => ({ mediaType: IMAGE, digest: D(n), size: 1, artifactType });

async function policyCovering(...patterns: string[]): Promise<SignaturePolicy> {
  const files: Record<string, string> = { 'signature-policy.yaml': `rules:\n  - name: acme\n    images: ${JSON.stringify(patterns)}\n    key: keys/acme.pub\n`, 'keys/acme.pub': PEM };
  const policy = await readPolicy(async (path) => files[path]);
  if (policy === undefined) throw new Error('no policy');
  return policy;
}

/**
 * `ghcr.io/acme/app:1` (D(1)) on a registry serving the referrers API: a `.sig` tag, two Sigstore bundles and an SBOM as
 * referrers. `docker.io/library/redis:7` (D(2)) on one that does not: its referrers tag's index lists a bundle and a
 * Notary signature, no `.sig` tag.
 */
function signedRegistry(): FakeManifestRegistry {
  const registry = new FakeManifestRegistry();
  registry.servesReferrers.add('ghcr.io');
  registry.digests.set('ghcr.io/acme/app:1', D(1));
  registry.mediaTypes.set('ghcr.io/acme/app:1', IMAGE);
  registry.digests.set(`ghcr.io/acme/app:sha256-${HEX(1)}.sig`, D(5));
  registry.referrers.set(`ghcr.io/acme/app@${D(1)}`, [referrer(6, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(7, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(8, SPDX)]);
  registry.digests.set('docker.io/library/redis:7', D(2));
  registry.mediaTypes.set('docker.io/library/redis:7', IMAGE);
  registry.digests.set(`docker.io/library/redis:sha256-${HEX(2)}`, D(9));
  const json = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [referrer(3, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(4, NOTARY_SIGNATURE_ARTIFACT_TYPE)] };
  registry.manifests.set(`docker.io/library/redis:sha256-${HEX(2)}`, { digest: D(9), mediaType: OCI_INDEX, body: JSON.stringify(json), json });
  return registry;
}

const refs = (...names: string[]) => names.map((name) => parseImageReference(name));

describe('lookUpSyncCosts with a signature policy', () => {
  it('adds the .sig GET and one GET per bundle referrer to the copies of a covered image', async () => {
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), signedRegistry(), { artifacts: 'signatures', policy: await policyCovering('ghcr.io/acme/**') });
    // Copies: the .sig tag and the two bundles (3); verification: the .sig manifest and the two bundles (3).
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 1, referrers: 2, verification: 3, pulls: 6 });
  });

  it('adds the referrers tag index GET where the source serves no referrers API', async () => {
    const { costs } = await lookUpSyncCosts(refs('redis:7'), signedRegistry(), { artifacts: 'signatures', policy: await policyCovering('docker.io/library/*') });
    // Copies: the bundle, the Notary signature and the tag index (3); verification: the tag index and the bundle (2).
    expect(costs.get('docker.io/library/redis:7')?.artifacts).toEqual({ cosignTags: 0, referrers: 2, verification: 2, pulls: 5 });
  });

  it('prices the verification of a covered image even when no artifact is copied', async () => {
    const registry = signedRegistry();
    const { costs, artifacts } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1', 'redis:7'), registry, { artifacts: 'none', policy: await policyCovering('ghcr.io/acme/**') });
    expect(artifacts).toBe('none');
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 0, referrers: 0, verification: 3, pulls: 3 });
    // redis:7 is covered by no rule: nothing asked about its signatures.
    expect(costs.get('docker.io/library/redis:7')?.artifacts).toBeUndefined();
    expect(registry.calls.filter((call) => call.includes('redis'))).toEqual(['HEAD docker.io/library/redis:7']);
  });

  it('leaves an image no rule covers as the artifacts alone price it', async () => {
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), signedRegistry(), { artifacts: 'signatures', policy: await policyCovering('quay.io/**') });
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 1, referrers: 2, pulls: 3 });
  });
});

describe('comparePlans with a signature policy', () => {
  const tree = (files: Record<string, string>) => ({ list: async (): Promise<DockerfileEntry[]> => Object.entries(files).map(([path, text]) => ({ path, text })) });

  it("counts the verification's GETs in the image's pulls and the totals", async () => {
    const next = tree({ 'app/Dockerfile': 'FROM ghcr.io/acme/app:1\n' });
    const report = await comparePlans({ base: tree({}), next, registry: signedRegistry() }, { baseLabel: 'main', artifacts: 'signatures', policy: await policyCovering('ghcr.io/**') });
    expect(report.added.map((e) => [e.source, e.manifestGets, e.artifactPulls, e.pulls])).toEqual([['ghcr.io/acme/app:1', 1, 6, 7]]);
    expect(report.summary).toMatchObject({ pulls: 7, artifactPulls: 6 });
  });
});
