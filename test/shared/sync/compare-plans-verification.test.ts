import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { NOTARY_SIGNATURE_ARTIFACT_TYPE, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../../shared/oci/artifacts.ts';
import { readPolicy, type SignaturePolicy } from '../../../shared/plan/policy.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';
import { comparePlans, lookUpSyncCosts } from '../../../shared/sync/compare-plans.ts';
import type { FakeManifestRegistry } from '../../fakes/registry.ts';
import { D, referrer, signedRegistry, SPDX } from '../../fakes/signed-registry.ts';

// `plan --base` prices the first copy of an image a policy rule covers with the signature reads of its verification:
// the `.sig` manifest GET when the tag is there, one GET per Sigstore bundle referrer, and the referrers tag's index
// where the source serves no referrers API; besides the copies of the artifacts themselves.

const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function policyCovering(...patterns: string[]): Promise<SignaturePolicy> {
  const files: Record<string, string> = { 'signature-policy.yaml': `rules:\n  - name: acme\n    images: ${JSON.stringify(patterns)}\n    key: keys/acme.pub\n`, 'keys/acme.pub': PEM };
  const policy = await readPolicy(async (path) => files[path]);
  if (policy === undefined) throw new Error('no policy');
  return policy;
}

/** The app's `.sig` tag with two Sigstore bundles and an SBOM as referrers; redis's referrers tag listing a bundle and a Notary signature. */
function signed(): FakeManifestRegistry {
  return signedRegistry([referrer(6, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(7, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(8, SPDX)], {
    index: D(9),
    referrers: [referrer(3, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(4, NOTARY_SIGNATURE_ARTIFACT_TYPE)],
  });
}

const refs = (...names: string[]) => names.map((name) => parseImageReference(name));

describe('lookUpSyncCosts with a signature policy', () => {
  it('adds the .sig GET and one GET per bundle referrer to the copies of a covered image', async () => {
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), signed(), { artifacts: 'signatures', policy: await policyCovering('ghcr.io/acme/**') });
    // Copies: the .sig tag and the two bundles (3); verification: the .sig manifest and the two bundles (3).
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 1, referrers: 2, verification: 3, pulls: 6 });
  });

  it('adds the referrers tag index GET where the source serves no referrers API', async () => {
    const { costs } = await lookUpSyncCosts(refs('redis:7'), signed(), { artifacts: 'signatures', policy: await policyCovering('docker.io/library/*') });
    // Copies: the bundle, the Notary signature and the tag index (3); verification: the tag index and the bundle (2).
    expect(costs.get('docker.io/library/redis:7')?.artifacts).toEqual({ cosignTags: 0, referrers: 2, verification: 2, pulls: 5 });
  });

  it('prices the verification of a covered image even when no artifact is copied', async () => {
    const registry = signed();
    const { costs, artifacts } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1', 'redis:7'), registry, { artifacts: 'none', policy: await policyCovering('ghcr.io/acme/**') });
    expect(artifacts).toBe('none');
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 0, referrers: 0, verification: 3, pulls: 3 });
    // redis:7 is covered by no rule: nothing asked about its signatures.
    expect(costs.get('docker.io/library/redis:7')?.artifacts).toBeUndefined();
    expect(registry.calls.filter((call) => call.includes('redis'))).toEqual(['HEAD docker.io/library/redis:7']);
  });

  it('leaves an image no rule covers as the artifacts alone price it', async () => {
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), signed(), { artifacts: 'signatures', policy: await policyCovering('quay.io/**') });
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 1, referrers: 2, pulls: 3 });
  });
});

describe('comparePlans with a signature policy', () => {
  const tree = (files: Record<string, string>) => ({ list: async (): Promise<DockerfileEntry[]> => Object.entries(files).map(([path, text]) => ({ path, text })) });

  it("counts the verification's GETs in the image's pulls and the totals", async () => {
    const next = tree({ 'app/Dockerfile': 'FROM ghcr.io/acme/app:1\n' });
    const report = await comparePlans({ base: tree({}), next, registry: signed() }, { baseLabel: 'main', artifacts: 'signatures', policy: await policyCovering('ghcr.io/**') });
    expect(report.added.map((e) => [e.source, e.manifestGets, e.artifactPulls, e.pulls])).toEqual([['ghcr.io/acme/app:1', 1, 6, 7]]);
    expect(report.summary).toMatchObject({ pulls: 7, artifactPulls: 6 });
  });
});
