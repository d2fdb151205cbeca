// Verifies that an image carries a signature its policy rule accepts, before anything of it is mirrored: cosign's
// `.sig` tag first, then Sigstore bundles among its referrers. Reads through an ArtifactReader; no I/O of its own.
import { UnverifiedError } from '../errors.ts';
import { formatReference, type ImageReference } from '../image-ref/reference.ts';
import { cosignTag } from '../oci/artifacts.ts';
import type { Verified, VerifyRule } from '../plan/policy.ts';
import type { ArtifactReader, ImageVerifier } from '../ports.ts';
import { checkBundleReferrers, locateReferrers } from './bundles.ts';
import type { CandidateOutcome } from './candidate.ts';
import { checkLegacySignatures } from './legacy.ts';

/** Options of the verifier: the clock certificates are judged by when no log entry says when they signed. */
export interface ImageVerifierOptions {
  readonly now?: () => Date;
}

/** An ImageVerifier over cosign's legacy `.sig` layout and Sigstore bundle referrers (keys, and keyless through @sigstore/verify). */
export function createImageVerifier(options: ImageVerifierOptions = {}): ImageVerifier {
  const now = options.now ?? (() => new Date());
  return {
    async verify(rule: VerifyRule, image: ImageReference, reader: ArtifactReader): Promise<Verified> {
      const digest = image.digest;
      if (digest === undefined) throw new UnverifiedError(`verifying ${formatReference(image)} against rule "${rule.name}": the image has no digest to verify`);
      const pinned = { registry: image.registry, repository: image.repository, digest };
      // The `.sig` HEAD and the referrers request at once; the bundles are read only when the `.sig` tag verified nothing.
      const listing = locateReferrers(pinned, reader);
      listing.catch(() => undefined);
      const legacy = await checkLegacySignatures(rule, pinned, reader, now());
      const accepted = legacy?.find(isVerified);
      if (accepted !== undefined) return accepted.verified;
      const referrers = await checkBundleReferrers(rule, pinned, reader, now(), listing);
      const fromReferrer = referrers.find(isVerified);
      if (fromReferrer !== undefined) return fromReferrer.verified;
      const name = `${image.registry}/${image.repository}@${digest}`;
      const reasons = [...(legacy ?? []), ...referrers].map((outcome) => ('refused' in outcome ? outcome.refused : ''));
      if (reasons.length === 0) {
        throw new UnverifiedError(`${name} is not signed as rule "${rule.name}" requires: no signature found at ${image.repository}:${cosignTag(digest, 'sig')} or among referrers`);
      }
      throw new UnverifiedError(`${name} carries no signature rule "${rule.name}" accepts: ${reasons.join('; ')}`);
    },
  };
}

function isVerified(outcome: CandidateOutcome): outcome is { verified: Verified } {
  return 'verified' in outcome;
}
