import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UnverifiedError } from '../../../shared/errors.ts';
import type { ImageReference } from '../../../shared/image-ref/reference.ts';
import type { KeylessRule, KeyRule } from '../../../shared/plan/policy.ts';
import type { ArtifactReader } from '../../../shared/ports.ts';
import { createImageVerifier } from '../../../shared/signatures/verify-image.ts';
import { sha256Digest } from '../../support/oci-push.ts';
import { bundleReferrer, generateSigningKey, MemoryArtifacts, referrerManifest, type SigningKey, signLegacyKeyless, TEST_IDENTITY, type TestAuthorities, testSigners } from '../../support/signing.ts';

// What the verifier reads and what it makes of bundles that are not image signatures, expired certificates, broken ones.
const digest = sha256Digest('the image manifest');
const image = { registry: 'ghcr.io', repository: 'acme/app', digest };
const identity = TEST_IDENTITY;

let key: SigningKey;
let authorities: TestAuthorities;
let keyRule: KeyRule;
let keylessRule: KeylessRule;

beforeAll(async () => {
  ({ key, authorities, keyRule, keylessRule } = await testSigners({ images: ['ghcr.io/acme/**'] }));
});

afterEach(() => {
  vi.useRealTimers();
});

const refusal = async (promise: Promise<unknown>): Promise<string> => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UnverifiedError);
  return (error as Error).message;
};

/** A reader that records every request it passes on. */
function recording(inner: ArtifactReader): ArtifactReader & { readonly calls: string[] } {
  const calls: string[] = [];
  const name = (ref: ImageReference) => ref.digest ?? ref.tag ?? '';
  return {
    calls,
    headManifest: (ref) => (calls.push(`HEAD ${name(ref)}`), inner.headManifest(ref)),
    getManifest: (ref) => (calls.push(`GET ${name(ref)}`), inner.getManifest(ref)),
    listReferrers: (ref) => (calls.push(`REFERRERS ${name(ref)}`), inner.listReferrers(ref)),
    getBlob: (ref, blob, maxBytes) => (calls.push(`BLOB ${blob}`), inner.getBlob(ref, blob, maxBytes)),
  };
}

describe('createImageVerifier: what it reads', () => {
  it('HEADs the .sig tag and the referrers tag first: missing tags cost no GET', async () => {
    const reader = recording(new MemoryArtifacts(false));
    await refusal(createImageVerifier().verify(keyRule, image, reader));
    expect(reader.calls.filter((call) => call.startsWith('GET'))).toEqual([]);
    expect(reader.calls.filter((call) => call.startsWith('HEAD')).sort()).toEqual([`HEAD sha256-${digest.slice(7)}`, `HEAD sha256-${digest.slice(7)}.sig`]);
  });

  it('looks at 20 bundle referrers at the most, and says so', async () => {
    const stranger = generateSigningKey();
    const artifacts = new MemoryArtifacts();
    for (let at = 0; at < 22; at += 1) artifacts.add(await bundleReferrer(digest, { key: stranger }), digest);
    const message = await refusal(createImageVerifier().verify(keyRule, image, artifacts));
    expect(message).toContain('22 Sigstore bundle referrers: only the first 20 are looked at');
    expect(artifacts.blobReads.length).toBeLessThanOrEqual(20);
  });
});

describe('createImageVerifier: bundles that are not image signatures', () => {
  it('refuses an attestation of another predicate by the same signer as an attestation, not a signature', async () => {
    const provenance = await bundleReferrer(digest, { key }, { predicateType: 'https://slsa.dev/provenance/v1' });
    const message = await refusal(createImageVerifier().verify(keyRule, image, new MemoryArtifacts().add(provenance, digest)));
    expect(message).toContain('an attestation, not a signature: its in-toto predicate type is "https://slsa.dev/provenance/v1", not https://sigstore.dev/cosign/sign/v1');
  });

  it('refuses a bundle whose certificate does not parse, and still looks at the next candidate', async () => {
    const good = await bundleReferrer(digest, { authorities, identity });
    const json = JSON.parse(Buffer.from(good.blobs.find((blob) => blob.digest !== sha256Digest('{}'))!.bytes).toString('utf8')) as { verificationMaterial: { certificate: { rawBytes: string } } };
    json.verificationMaterial.certificate.rawBytes = Buffer.from('not a certificate').toString('base64');
    const broken = referrerManifest(digest, Buffer.from(JSON.stringify(json)));
    const verified = await createImageVerifier().verify(keylessRule, image, new MemoryArtifacts().add(broken, digest).add(good, digest));
    expect(verified).toMatchObject({ by: 'keyless', signature: 'referrer' });
    const message = await refusal(createImageVerifier().verify(keylessRule, image, new MemoryArtifacts().add(broken, digest)));
    expect(message).toContain('not a valid Sigstore bundle: its certificate does not parse');
  });
});

describe('createImageVerifier: a keyless certificate expired by now', () => {
  // Fulcio's certificates last ten minutes: every keyless signature checked later rests on its log entry's time.
  it.each(['.sig', 'bundle'])('accepts a %s whose certificate has expired, its transparency-log entry proving it signed while valid', async (kind) => {
    const artifacts = new MemoryArtifacts();
    if (kind === '.sig') artifacts.add(await signLegacyKeyless(authorities, digest, 'ghcr.io/acme/app', identity));
    else artifacts.add(await bundleReferrer(digest, { authorities, identity }), digest);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3 * 3600_000);
    await expect(createImageVerifier().verify(keylessRule, image, artifacts)).resolves.toMatchObject({ by: 'keyless', identity: `${identity.subject} (${identity.issuer})` });
  });
});
