import { afterEach, describe, expect, it, vi } from 'vitest';
import { toTrustMaterial } from '@sigstore/verify';
import { keylessTrustMaterial, publicGoodTrustedRoot } from '../../../shared/signatures/trust-root.ts';
import { createTestAuthorities } from '../../support/signing.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('publicGoodTrustedRoot', () => {
  it("reads Sigstore's public-good root from @sigstore/tuf's seeds, with no network", async () => {
    const fetch = vi.fn(() => Promise.reject(new Error('no network in this test')));
    vi.stubGlobal('fetch', fetch);
    const root = publicGoodTrustedRoot();
    expect(fetch).not.toHaveBeenCalled();
    expect(root.certificateAuthorities.map((ca) => ca.uri)).toContain('https://fulcio.sigstore.dev');
    expect(root.tlogs.map((log) => log.baseUrl)).toContain('https://rekor.sigstore.dev');
    expect(root.ctlogs.length).toBeGreaterThan(0);
    const material = toTrustMaterial(root);
    expect(material.certificateAuthorities.every((ca) => ca.certChain.length > 0)).toBe(true);
  });

  it('uses the trusted root a rule names instead of the public-good one', async () => {
    const authorities = await createTestAuthorities();
    const material = keylessTrustMaterial({ name: 'own', images: ['**'], by: 'keyless', issuer: { exact: 'i' }, subject: { exact: 's' }, trustedRoot: { path: 'root.json', json: authorities.trustedRoot } });
    expect(material.tlogs.map((log) => log.baseURL)).toEqual(['https://rekor.test']);
    expect(keylessTrustMaterial({ name: 'pg', images: ['**'], by: 'keyless', issuer: { exact: 'i' }, subject: { exact: 's' } }).tlogs.map((log) => log.baseURL)).toContain('https://rekor.sigstore.dev');
  });
});
