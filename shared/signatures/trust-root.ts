// The trust material signatures are verified against: Sigstore's public-good root as @sigstore/tuf ships it (read
// offline from its seeds.json: no network, no cache directory, so it works on a read-only Lambda root), or the trusted
// root a policy rule names for a private Sigstore deployment. A key rule's key is added as the only public key.
import { createPublicKey } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import seeds from '@sigstore/tuf/seeds.json' with { type: 'json' };
import type { KeylessRule, KeyRule } from '../plan/policy.ts';

/** The TUF repository whose trusted_root.json @sigstore/tuf embeds: Sigstore's public-good instance. */
export const PUBLIC_GOOD_TUF_URL = 'https://tuf-repo-cdn.sigstore.dev';

let publicGood: TrustedRoot | undefined;

/** Sigstore's public-good trusted root (Fulcio CAs, Rekor and CT log keys), decoded once from @sigstore/tuf's seeds. */
export function publicGoodTrustedRoot(): TrustedRoot {
  if (publicGood === undefined) {
    const encoded = seeds[PUBLIC_GOOD_TUF_URL].targets['trusted_root.json'];
    publicGood = TrustedRoot.fromJSON(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')));
  }
  return publicGood;
}

/** What keyless signatures of a rule chain to: the rule's own trusted root, or the public-good one. */
export function keylessTrustMaterial(rule: KeylessRule): TrustMaterial {
  const root = rule.trustedRoot === undefined ? publicGoodTrustedRoot() : TrustedRoot.fromJSON(JSON.parse(rule.trustedRoot.json));
  return toTrustMaterial(root);
}

/**
 * What a key rule's Sigstore bundles verify against: its key for whatever hint the bundle gives, valid at any time,
 * and the public-good logs for the transparency-log entries a key-signed bundle may carry.
 */
export function keyTrustMaterial(rule: KeyRule): TrustMaterial {
  const publicKey = createPublicKey(rule.key.pem);
  return toTrustMaterial(publicGoodTrustedRoot(), () => ({ publicKey, validFor: () => true }));
}
