// Sigstore bundles stored as OCI referrers of the image (cosign v3, `--new-bundle-format`): a manifest of artifactType
// `application/vnd.dev.sigstore.bundle.v0.3+json` whose one layer is the bundle JSON. Listed by the referrers API, or
// by the referrers tag scheme (`<repo>:sha256-<hex>`, an index) where the registry does not serve the API.
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { referrersTag, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../oci/artifacts.ts';
import type { ImageReference } from '../image-ref/reference.ts';
import type { VerifyRule } from '../plan/policy.ts';
import type { ArtifactReader, ReferrerDescriptor } from '../ports.ts';
import { safeText } from '../safe-text.ts';
import { isRetryable } from '../errors.ts';
import { type CandidateOutcome, MAX_CANDIDATES, MAX_SIGNATURE_BLOB_BYTES, verifyKeyBundle, verifyKeylessBundle } from './candidate.ts';
import { layersOf } from './legacy.ts';
import { keylessTrustMaterial, keyTrustMaterial } from './trust-root.ts';

/** The payload type of a DSSE envelope holding an in-toto statement. */
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/**
 * The in-toto predicate type of cosign v3's image signature (`cosign sign` with the bundle format): any other is an
 * attestation (SLSA provenance, an SBOM, a vulnerability scan) about the image, which says nothing of who released it.
 */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

/** Where an image's referrers are: the API's list, or (where it is not served) the digest of its referrers tag, if any. */
export type LocatedReferrers = { readonly listed: readonly ReferrerDescriptor[] } | { readonly tagDigest: string } | { readonly none: true };

/**
 * The image's referrers by the referrers API (no pull) or, where it is not served, its referrers tag by a HEAD (free
 * on Docker Hub): nothing charged yet, so that it can be asked at once with the `.sig` tag's HEAD.
 */
export async function locateReferrers(image: ImageReference & { digest: string }, reader: ArtifactReader): Promise<LocatedReferrers> {
  const repository = { registry: image.registry, repository: image.repository };
  const listed = await reader.listReferrers({ ...repository, digest: image.digest });
  if (listed !== undefined) return { listed };
  const head = await reader.headManifest({ ...repository, tag: referrersTag(image.digest) });
  return head === undefined ? { none: true } : { tagDigest: head.digest };
}

/** The image's referrers that are Sigstore bundles: the list located, or the referrers tag's index read by its digest (a GET). */
export async function bundleReferrers(image: ImageReference & { digest: string }, reader: ArtifactReader, located: LocatedReferrers | 'unasked' = 'unasked'): Promise<ReferrerDescriptor[]> {
  const where = located === 'unasked' ? await locateReferrers(image, reader) : located;
  if ('none' in where) return [];
  let referrers: readonly ReferrerDescriptor[];
  if ('listed' in where) referrers = where.listed;
  else {
    const index = await reader.getManifest({ registry: image.registry, repository: image.repository, digest: where.tagDigest });
    referrers = index?.json.manifests ?? [];
  }
  return referrers.filter((referrer) => referrer.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE);
}

/** The verdicts on each bundle referrer (`located`, when the caller started looking for them), stopping at the first accepted. */
export async function checkBundleReferrers(rule: VerifyRule, image: ImageReference & { digest: string }, reader: ArtifactReader, now: Date, located?: Promise<LocatedReferrers>): Promise<CandidateOutcome[]> {
  const referrers = located === undefined ? await bundleReferrers(image, reader) : await bundleReferrers(image, reader, await located);
  const outcomes: CandidateOutcome[] = [];
  if (referrers.length > MAX_CANDIDATES) outcomes.push({ refused: `${referrers.length} Sigstore bundle referrers: only the first ${MAX_CANDIDATES} are looked at` });
  for (const referrer of referrers.slice(0, MAX_CANDIDATES)) {
    const outcome = await checkReferrer(rule, image, reader, referrer.digest, now);
    if ('verified' in outcome) return [...outcomes, outcome];
    outcomes.push({ refused: `referrer ${referrer.digest.slice(0, 19)}…: ${outcome.refused}` });
  }
  return outcomes;
}

async function checkReferrer(rule: VerifyRule, image: ImageReference & { digest: string }, reader: ArtifactReader, digest: string, now: Date): Promise<CandidateOutcome> {
  const repository = { registry: image.registry, repository: image.repository };
  let bundle: Bundle;
  try {
    const manifest = await reader.getManifest({ ...repository, digest });
    if (manifest === undefined) return { refused: 'listed, but its manifest does not exist' };
    const layer = layersOf(manifest.body)[0];
    if (layer === undefined) return { refused: 'not a valid Sigstore bundle: the manifest has no layer' };
    const bytes = await reader.getBlob({ ...repository, digest: image.digest }, layer.digest, MAX_SIGNATURE_BLOB_BYTES);
    bundle = bundleFromJSON(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return { refused: `not a valid Sigstore bundle: ${safeText(error instanceof Error ? error.message : String(error))}` };
  }
  const subjectProblem = statementProblem(bundle, image.digest);
  if (rule.by === 'key') {
    const refused = verifyKeyBundle(bundle, keyTrustMaterial(rule), rule.key.path) ?? subjectProblem;
    return refused === undefined ? { verified: { rule: rule.name, by: 'key', identity: rule.key.path, signature: 'referrer' } } : { refused };
  }
  const result = verifyKeylessBundle(rule, bundle, keylessTrustMaterial(rule), undefined, now);
  if ('refused' in result) return result;
  if (subjectProblem !== undefined) return { refused: subjectProblem };
  return { verified: { rule: rule.name, by: 'keyless', identity: result.identity, signature: 'referrer' } };
}

// A referrer signs the image only through a DSSE in-toto statement whose subject is the image's digest: a message
// signature's artifact is not in the bundle, so there is nothing to tie it to the image.
function statementProblem(bundle: Bundle, digest: string): string | undefined {
  if (bundle.content.$case !== 'dsseEnvelope') return 'a message-signature bundle does not say what it signs: expected a DSSE in-toto statement';
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return `DSSE payload type is "${safeText(envelope.payloadType)}", not ${IN_TOTO_PAYLOAD_TYPE}`;
  let statement: { subject?: unknown; predicateType?: unknown };
  try {
    statement = JSON.parse(Buffer.from(envelope.payload).toString('utf8')) as { subject?: unknown; predicateType?: unknown };
  } catch {
    return 'the DSSE payload is not an in-toto statement (not JSON)';
  }
  const subjects = statement?.subject;
  if (!Array.isArray(subjects)) return 'the in-toto statement has no subject';
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
    const kind = typeof statement.predicateType === 'string' ? `"${safeText(statement.predicateType, 200)}"` : 'no predicate type';
    return `an attestation, not a signature: its in-toto predicate type is ${kind}, not ${COSIGN_SIGN_PREDICATE_TYPE}`;
  }
  const hex = digest.slice('sha256:'.length);
  const named = subjects.map((subject) => (subject as { digest?: { sha256?: unknown } } | null)?.digest?.sha256).filter((value): value is string => typeof value === 'string');
  if (named.includes(hex)) return undefined;
  return `the in-toto statement's subject names ${named.length === 0 ? 'no sha256 digest' : named.map((value) => `sha256:${safeText(value)}`).join(', ')}, not ${digest}`;
}
