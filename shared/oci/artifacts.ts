// Where signatures, attestations and SBOMs of an image live in a registry, and which of them a mode takes. Pure.
// cosign's tag scheme: https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md ("Tag-based discovery").
// OCI 1.1 referrers and their tag-scheme fallback: https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers
// and #referrers-tag-schema.
import type { ArtifactMode, ReferrerDescriptor } from '../ports.ts';

/** A Sigstore bundle stored as a referrer (cosign v3, `cosign attest`/`sign` with the new bundle format). */
export const SIGSTORE_BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** A Notary Project signature stored as a referrer. */
export const NOTARY_SIGNATURE_ARTIFACT_TYPE = 'application/vnd.cncf.notary.signature';
/** A cosign simple-signing layer of a `.sig` manifest. */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** The suffixes of cosign's tags: signatures, attestations, SBOMs. */
export type CosignSuffix = 'sig' | 'att' | 'sbom';

/** `sha256:abc…` → `sha256-abc…`: the tag the referrers tag scheme (and cosign, with a suffix) derives from a digest. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** cosign's tag for a digest's signatures (`sha256-<hex>.sig`), attestations (`.att`) or SBOM (`.sbom`). */
export function cosignTag(digest: string, suffix: CosignSuffix): string {
  return `${referrersTag(digest)}.${suffix}`;
}

/** The cosign tags a mode copies: `.sig` for `signatures`; `.sig`, `.att` and `.sbom` for `all`; none for `none`. */
export function cosignSuffixes(mode: ArtifactMode): readonly CosignSuffix[] {
  return mode === 'none' ? [] : mode === 'signatures' ? ['sig'] : ['sig', 'att', 'sbom'];
}

/** True for a referrer the mode copies: every one for `all`, signatures (Sigstore bundles, Notary) for `signatures`. */
export function wantsReferrer(mode: ArtifactMode, referrer: ReferrerDescriptor): boolean {
  if (mode === 'all') return true;
  if (mode === 'none') return false;
  return referrer.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE || referrer.artifactType === NOTARY_SIGNATURE_ARTIFACT_TYPE;
}
