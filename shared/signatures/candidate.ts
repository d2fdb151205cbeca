// What every signature candidate (a `.sig` layer, a bundle referrer) comes to: accepted, or refused with a reason in
// plain words; and the Sigstore checks the two layouts share.
import type { Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { type Signer, toSignedEntity, type TrustMaterial, VerificationError, Verifier } from '@sigstore/verify';
import { describeMatcher, type KeylessRule, matchesIdentity, type Verified } from '../plan/policy.ts';
import { safeText } from '../safe-text.ts';

/** One signature looked at: accepted (how), or refused, with where it was found and why. */
export type CandidateOutcome = { readonly verified: Verified } | { readonly refused: string };

/** The most bytes read of a simple-signing payload or a bundle: both are a few kilobytes; more is not a signature. */
export const MAX_SIGNATURE_BLOB_BYTES = 256 * 1024;

/** The most candidates of one kind looked at (bundle referrers, simple-signing layers): each costs requests and checks. */
export const MAX_CANDIDATES = 20;

/**
 * Verifies a keyless bundle against the trust material (certificate chain, SCT, one transparency-log entry at least,
 * which is what proves a short-lived certificate was valid when it signed) and then the rule's issuer and subject.
 */
export function verifyKeylessBundle(rule: KeylessRule, bundle: Bundle, trust: TrustMaterial, artifact: Buffer | undefined, now: Date): { identity: string } | { refused: string } {
  let leaf: X509Certificate | undefined;
  try {
    leaf = leafCertificate(bundle);
  } catch (error) {
    return { refused: `not a valid Sigstore bundle: its certificate does not parse: ${safeText(error instanceof Error ? error.message : String(error))}` };
  }
  if (leaf === undefined) return { refused: 'signed with a key, not a certificate: the rule wants a keyless signature' };
  const hasTimestamp = bundle.verificationMaterial.tlogEntries.some((entry) => entry.inclusionPromise !== undefined || entry.integratedTime !== '0');
  if (!hasTimestamp && (bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0) === 0) {
    const validity = leaf.validForDate(now) ? `valid until ${leaf.notAfter.toISOString()}` : `expired (or not valid) at ${now.toISOString()}: valid ${leaf.notBefore.toISOString()} to ${leaf.notAfter.toISOString()}`;
    return { refused: `certificate ${validity} and no transparency log entry proves it was used while valid` };
  }
  let signer: Signer;
  try {
    signer = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1 }).verify(toSignedEntity(bundle, artifact));
  } catch (error) {
    return { refused: describeSigstoreError(error) };
  }
  const subject = signer.identity?.subjectAlternativeName ?? '';
  const issuer = signer.identity?.extensions?.issuer ?? '';
  // Certificate text is the signer's to choose: made safe before it reaches a result line.
  const identity = `${safeText(subject)} (${safeText(issuer)})`;
  if (!matchesIdentity(rule.issuer, issuer) || !matchesIdentity(rule.subject, subject)) {
    return {
      refused: `certificate identity "${safeText(subject)}" from "${safeText(issuer)}" does not match the rule (subject ${safeText(describeMatcher(rule.subject))} from ${safeText(describeMatcher(rule.issuer))})`,
    };
  }
  return { identity };
}

/** Verifies a key-signed bundle with the rule's key as the only trusted key; a log entry it carries must verify too. */
export function verifyKeyBundle(bundle: Bundle, trust: TrustMaterial, keyPath: string): string | undefined {
  if (bundle.verificationMaterial.content.$case !== 'publicKey') return `signed with a certificate, not a key: the rule wants key ${keyPath}`;
  try {
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
    return undefined;
  } catch (error) {
    if (error instanceof VerificationError && error.code === 'SIGNATURE_ERROR') return `signature does not verify with key ${keyPath}`;
    return describeSigstoreError(error);
  }
}

/** A Sigstore verification failure in words a reader of the result line can act on. */
export function describeSigstoreError(error: unknown): string {
  if (!(error instanceof VerificationError)) return `verification failed: ${safeText(error instanceof Error ? error.message : String(error))}`;
  const detail = safeText(error.message + (error.cause instanceof Error ? `: ${error.cause.message}` : ''));
  switch (error.code) {
    case 'CERTIFICATE_ERROR':
      return `certificate does not chain to the trusted root, or was not valid when logged: ${detail}`;
    case 'SIGNATURE_ERROR':
      return "signature does not verify with the certificate's key";
    case 'TIMESTAMP_ERROR':
      return `no transparency log entry or timestamp proves when it was signed: ${detail}`;
    default:
      return error.code.startsWith('TLOG') ? `transparency log entry does not verify: ${detail}` : `verification failed (${error.code}): ${detail}`;
  }
}

function leafCertificate(bundle: Bundle): X509Certificate | undefined {
  const content = bundle.verificationMaterial.content;
  const raw = content.$case === 'x509CertificateChain' ? content.x509CertificateChain.certificates[0]?.rawBytes : content.$case === 'certificate' ? content.certificate.rawBytes : undefined;
  return raw === undefined ? undefined : X509Certificate.parse(Buffer.from(raw));
}
