// Signature verification against the stack's real source registry, read through HttpRegistryClient: cosign's `.sig`
// tag and a Sigstore bundle referrer (by the referrers API, or the tag scheme where the registry lacks it).
import { beforeAll, describe, expect, it } from 'vitest';
import { UnverifiedError } from '../../shared/errors.ts';
import { parseImageReference } from '../../shared/image-ref/reference.ts';
import type { KeylessRule, KeyRule } from '../../shared/plan/policy.ts';
import { StaticCredentialProvider } from '../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../shared/registry/http-registry.ts';
import { createImageVerifier } from '../../shared/signatures/verify-image.ts';
import { pushImage } from '../../scripts/lib/oci-seed.ts';
import { fetchManifest } from '../support/oci-push.ts';
import { bundleReferrer, pushReferrer, pushSignature, type SigningKey, signLegacyKeyless, signLegacyWithKey, simpleSigningPayload, TEST_IDENTITY, type TestAuthorities, testSigners } from '../support/signing.ts';
import { stack, uniqueName } from '../support/stack.ts';

const identity = TEST_IDENTITY;
let key: SigningKey;
let authorities: TestAuthorities;
let keyRule: KeyRule;
let keylessRule: KeylessRule;

beforeAll(async () => {
  ({ key, authorities, keyRule, keylessRule } = await testSigners({ images: ['**'], keylessRuleName: 'ci' }));
});

const client = () => new HttpRegistryClient({ credentials: new StaticCredentialProvider() });
const verifier = createImageVerifier();

/** A fresh image in the source registry: its reference by digest, and the name to push signatures under. */
async function freshImage(prefix: string) {
  const s = stack();
  const repository = `${uniqueName(prefix)}/app`;
  const pushed = await pushImage({ registry: s.sourceRegistry }, repository, 'v1');
  return { repository, digest: pushed.digest, ref: parseImageReference(`${s.sourceRegistry}/${repository}@${pushed.digest}`) };
}

describe('ImageVerifier against the source registry', () => {
  it("verifies a key-signed .sig tag in cosign's layout", async () => {
    const image = await freshImage('verify-key');
    await pushSignature(stack().sourceRegistry, image.repository, signLegacyWithKey(image.digest, `${stack().sourceRegistry}/${image.repository}`, key));
    await expect(verifier.verify(keyRule, image.ref, client())).resolves.toEqual({ rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' });
  });

  it('verifies a keyless .sig tag and a keyless bundle referrer', async () => {
    const image = await freshImage('verify-keyless');
    await pushSignature(stack().sourceRegistry, image.repository, await signLegacyKeyless(authorities, image.digest, image.repository, identity));
    await expect(verifier.verify(keylessRule, image.ref, client())).resolves.toMatchObject({ by: 'keyless', signature: 'cosign-tag' });

    const bundled = await freshImage('verify-bundle');
    await pushReferrer(stack().sourceRegistry, bundled.repository, await bundleReferrer(bundled.digest, { authorities, identity }), bundled.digest);
    await expect(verifier.verify(keylessRule, bundled.ref, client())).resolves.toEqual({ rule: 'ci', by: 'keyless', identity: `${identity.subject} (${identity.issuer})`, signature: 'referrer' });
  });

  it('refuses each broken signature with its reason, naming the image', async () => {
    const s = stack();
    const cases = [
      { prefix: 'verify-none', sign: async () => undefined, rule: () => keyRule, reason: 'no signature found at' },
      {
        prefix: 'verify-tampered',
        sign: async (digest: string) => signLegacyWithKey(digest, 'x', key, { tamper: (payload) => Buffer.from(payload.toString().replace('"optional":null', '"optional":{}')) }),
        rule: () => keyRule,
        reason: 'signature does not verify with key keys/acme.pub',
      },
      { prefix: 'verify-other', sign: async (digest: string) => signLegacyWithKey(digest, 'x', key, { payload: simpleSigningPayload(`sha256:${'0'.repeat(64)}`, 'x') }), rule: () => keyRule, reason: 'payload names digest sha256:000' },
      { prefix: 'verify-identity', sign: async (digest: string) => signLegacyKeyless(authorities, digest, 'x', { ...identity, subject: 'https://github.com/mallory/x' }), rule: () => keylessRule, reason: 'certificate identity "https://github.com/mallory/x"' },
      {
        prefix: 'verify-expired',
        sign: async (digest: string) => signLegacyKeyless(authorities, digest, 'x', identity, { certificateClock: new Date(Date.now() - 2 * 3600_000), withoutTlog: true }),
        rule: () => keylessRule,
        reason: 'and no transparency log entry',
      },
    ];
    for (const { prefix, sign, rule, reason } of cases) {
      const image = await freshImage(prefix);
      const signature = await sign(image.digest);
      if (signature !== undefined) await pushSignature(s.sourceRegistry, image.repository, signature);
      const error = await verifier.verify(rule(), image.ref, client()).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, prefix).toBeInstanceOf(UnverifiedError);
      expect((error as Error).message, prefix).toContain(`${image.repository}@${image.digest}`);
      expect((error as Error).message, prefix).toContain(reason);
    }
  });

  it('pushes the .sig tag with the exact bytes made, so that its digest is what a copy must keep', async () => {
    const image = await freshImage('verify-bytes');
    const signature = signLegacyWithKey(image.digest, 'x', key);
    await pushSignature(stack().sourceRegistry, image.repository, signature);
    expect((await fetchManifest(stack().sourceRegistry, image.repository, signature.tag ?? ''))?.digest).toBe(signature.digest);
  });
});
