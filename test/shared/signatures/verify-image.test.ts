import { beforeAll, describe, expect, it } from 'vitest';
import { UnverifiedError } from '../../../shared/errors.ts';
import type { KeylessRule, KeyRule } from '../../../shared/plan/policy.ts';
import { createImageVerifier } from '../../../shared/signatures/verify-image.ts';
import { sha256Digest } from '../../support/oci-push.ts';
import {
  bundleReferrer,
  generateSigningKey,
  MemoryArtifacts,
  type SigningKey,
  signLegacyKeyless,
  signLegacyWithKey,
  simpleSigningPayload,
  TEST_IDENTITY,
  type TestAuthorities,
  testSigners,
} from '../../support/signing.ts';

const digest = sha256Digest('the image manifest');
const other = sha256Digest('another image manifest');
const image = { registry: 'ghcr.io', repository: 'acme/app', digest };
const reference = 'ghcr.io/acme/app';
const identity = TEST_IDENTITY;

let key: SigningKey;
let authorities: TestAuthorities;
let keyRule: KeyRule;
let keylessRule: KeylessRule;

beforeAll(async () => {
  ({ key, authorities, keyRule, keylessRule } = await testSigners({ images: ['ghcr.io/acme/**'], subject: { regexp: 'https://github\\.com/acme/app/\\.github/workflows/.*' } }));
});

const verifier = createImageVerifier();
const refusal = async (promise: Promise<unknown>): Promise<string> => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UnverifiedError);
  return (error as Error).message;
};

describe('createImageVerifier: key rules', () => {
  it("accepts cosign's .sig signed with the rule's key", async () => {
    const reader = new MemoryArtifacts().add(signLegacyWithKey(digest, reference, key));
    await expect(verifier.verify(keyRule, image, reader)).resolves.toEqual({ rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' });
  });

  it('accepts a key-signed Sigstore bundle stored as a referrer', async () => {
    const reader = new MemoryArtifacts().add(await bundleReferrer(digest, { key }), digest);
    await expect(verifier.verify(keyRule, image, reader)).resolves.toEqual({ rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'referrer' });
  });

  it('refuses a signature by another key, naming the key file', async () => {
    const reader = new MemoryArtifacts().add(signLegacyWithKey(digest, reference, generateSigningKey()));
    const message = await refusal(verifier.verify(keyRule, image, reader));
    expect(message).toContain(`ghcr.io/acme/app@${digest}`);
    expect(message).toContain('signature does not verify with key keys/acme.pub');
  });

  it('refuses a tampered payload', async () => {
    const tampered = signLegacyWithKey(digest, reference, key, { tamper: (payload) => Buffer.from(payload.toString().replace('"optional":null', '"optional":{"by":"mallory"}')) });
    const message = await refusal(verifier.verify(keyRule, image, new MemoryArtifacts().add(tampered)));
    expect(message).toContain('signature does not verify with key keys/acme.pub');
  });

  it('refuses a payload that names another digest, saying which', async () => {
    const signed = signLegacyWithKey(digest, reference, key, { payload: simpleSigningPayload(other, reference) });
    const message = await refusal(verifier.verify(keyRule, image, new MemoryArtifacts().add(signed)));
    expect(message).toContain(`payload names digest ${other}, not ${digest}`);
  });

  it('refuses a payload whose bytes do not match the layer digest', async () => {
    const signed = signLegacyWithKey(digest, reference, key);
    const reader = new MemoryArtifacts().add(signed);
    const payloadDigest = signed.blobs[1]!.digest;
    reader.corruptBlob(payloadDigest, Buffer.from('{"critical":{}}'));
    expect(await refusal(verifier.verify(keyRule, image, reader))).toContain(`payload does not match its digest ${payloadDigest}`);
  });

  it('says no signature was found when there is neither a .sig tag nor a referrer', async () => {
    const message = await refusal(verifier.verify(keyRule, image, new MemoryArtifacts()));
    expect(message).toContain(`no signature found at acme/app:sha256-${digest.slice(7)}.sig or among referrers`);
  });

  it('finds referrers through the referrers tag index when the registry does not serve the API', async () => {
    const reader = new MemoryArtifacts(false).add(await bundleReferrer(digest, { key }), digest);
    await expect(verifier.verify(keyRule, image, reader)).resolves.toMatchObject({ signature: 'referrer' });
  });

  it('accepts when one of several candidates verifies', async () => {
    const reader = new MemoryArtifacts().add(signLegacyWithKey(digest, reference, generateSigningKey())).add(await bundleReferrer(digest, { key }), digest);
    await expect(verifier.verify(keyRule, image, reader)).resolves.toMatchObject({ signature: 'referrer' });
  });
});

describe('createImageVerifier: keyless rules', () => {
  it('accepts a keyless .sig with its certificate and Rekor bundle', async () => {
    const reader = new MemoryArtifacts().add(await signLegacyKeyless(authorities, digest, reference, identity));
    await expect(verifier.verify(keylessRule, image, reader)).resolves.toEqual({ rule: 'acme-ci', by: 'keyless', identity: `${identity.subject} (${identity.issuer})`, signature: 'cosign-tag' });
  });

  it('accepts a keyless DSSE bundle stored as a referrer', async () => {
    const reader = new MemoryArtifacts().add(await bundleReferrer(digest, { authorities, identity }), digest);
    await expect(verifier.verify(keylessRule, image, reader)).resolves.toEqual({ rule: 'acme-ci', by: 'keyless', identity: `${identity.subject} (${identity.issuer})`, signature: 'referrer' });
  });

  it('refuses another identity, saying what the certificate holds', async () => {
    const mallory = { issuer: 'https://accounts.google.com', subject: 'https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main' };
    const reader = new MemoryArtifacts().add(await signLegacyKeyless(authorities, digest, reference, mallory));
    const message = await refusal(verifier.verify(keylessRule, image, reader));
    expect(message).toContain(`certificate identity "${mallory.subject}" from "${mallory.issuer}" does not match the rule`);
  });

  it('refuses an expired certificate with no transparency log entry', async () => {
    const expired = await signLegacyKeyless(authorities, digest, reference, identity, { certificateClock: new Date(Date.now() - 2 * 3600_000), withoutTlog: true });
    const message = await refusal(verifier.verify(keylessRule, image, new MemoryArtifacts().add(expired)));
    expect(message).toMatch(/certificate expired \(or not valid\) at .* and no transparency log entry/);
  });

  it('refuses a tampered keyless payload', async () => {
    const tampered = await signLegacyKeyless(authorities, digest, reference, identity, { tamper: (payload) => Buffer.from(payload.toString().replace('"optional":null', '"optional":{}')) });
    const message = await refusal(verifier.verify(keylessRule, image, new MemoryArtifacts().add(tampered)));
    expect(message).toContain("signature does not verify with the certificate's key");
  });

  it('refuses a keyless payload naming another digest', async () => {
    const signed = await signLegacyKeyless(authorities, digest, reference, identity, { payload: simpleSigningPayload(other, reference) });
    expect(await refusal(verifier.verify(keylessRule, image, new MemoryArtifacts().add(signed)))).toContain(`payload names digest ${other}, not ${digest}`);
  });

  it('refuses a bundle whose in-toto statement names another image', async () => {
    const reader = new MemoryArtifacts().add(await bundleReferrer(digest, { authorities, identity }, { statementDigest: other }), digest);
    expect(await refusal(verifier.verify(keylessRule, image, reader))).toContain(`subject names ${other}, not ${digest}`);
  });

  it('refuses a keyless signature under the public-good root when it chains to another CA', async () => {
    const { trustedRoot: _ignored, ...publicGood } = keylessRule;
    const reader = new MemoryArtifacts().add(await signLegacyKeyless(authorities, digest, reference, identity));
    expect(await refusal(verifier.verify(publicGood, image, reader))).toContain('does not chain to the trusted root');
  });

  it('refuses a key signature under a keyless rule', async () => {
    const reader = new MemoryArtifacts().add(signLegacyWithKey(digest, reference, key));
    expect(await refusal(verifier.verify(keylessRule, image, reader))).toContain('signed with a key, not a certificate');
  });

  it('refuses a referrer that is not a Sigstore bundle', async () => {
    const { referrerManifest } = await import('../../support/signing.ts');
    const reader = new MemoryArtifacts().add(referrerManifest(digest, Buffer.from('{"mediaType":"nonsense"}')), digest);
    expect(await refusal(verifier.verify(keylessRule, image, reader))).toContain('not a valid Sigstore bundle');
  });
});
