// cosign's legacy signature layout: a `<repo>:sha256-<hex>.sig` manifest whose layers are simple-signing payloads,
// each with its signature (and, keyless, its certificate, chain and Rekor bundle) in the layer's annotations.
// https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { pem } from '@sigstore/core';
import { cosignTag, SIMPLE_SIGNING_MEDIA_TYPE } from '../oci/artifacts.ts';
import type { ImageReference } from '../image-ref/reference.ts';
import type { KeylessRule, KeyRule, VerifyRule } from '../plan/policy.ts';
import type { ArtifactReader } from '../ports.ts';
import { safeText } from '../safe-text.ts';
import { isRetryable } from '../errors.ts';
import { type CandidateOutcome, MAX_CANDIDATES, MAX_SIGNATURE_BLOB_BYTES, verifyKeylessBundle } from './candidate.ts';
import { keylessTrustMaterial } from './trust-root.ts';

/** The annotations cosign writes on each layer of a `.sig` manifest. */
export const COSIGN_ANNOTATIONS = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;

/** The `critical.type` of a cosign simple-signing payload. */
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

interface Layer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size?: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * The verdicts on each simple-signing layer of the image's `.sig` tag (in layer order, stopping at the first accepted);
 * undefined when the tag does not exist.
 */
export async function checkLegacySignatures(rule: VerifyRule, image: ImageReference & { digest: string }, reader: ArtifactReader, now: Date): Promise<CandidateOutcome[] | undefined> {
  const tag = cosignTag(image.digest, 'sig');
  // A HEAD first (free on Docker Hub): a missing tag costs no charged GET; the GET then by the digest it named.
  const head = await reader.headManifest({ registry: image.registry, repository: image.repository, tag });
  if (head === undefined) return undefined;
  const manifest = await reader.getManifest({ registry: image.registry, repository: image.repository, digest: head.digest });
  if (manifest === undefined) return undefined;
  const where = `${image.repository}:${tag}`;
  const layers = layersOf(manifest.body).filter((layer) => layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);
  if (layers.length === 0) return [{ refused: `${where} holds no simple-signing layer` }];
  const outcomes: CandidateOutcome[] = [];
  if (layers.length > MAX_CANDIDATES) outcomes.push({ refused: `${where} holds ${layers.length} simple-signing layers: only the first ${MAX_CANDIDATES} are looked at` });
  for (const layer of layers.slice(0, MAX_CANDIDATES)) {
    const refusal = await checkLayer(rule, image, reader, layer, now);
    if (typeof refusal !== 'string') return [...outcomes, refusal];
    outcomes.push({ refused: `${where} layer ${layer.digest.slice(0, 19)}…: ${refusal}` });
  }
  return outcomes;
}

// One layer: its payload read and checked against its digest, then the payload's image digest, then the signature.
async function checkLayer(rule: VerifyRule, image: ImageReference & { digest: string }, reader: ArtifactReader, layer: Layer, now: Date): Promise<CandidateOutcome | string> {
  let payload: Buffer;
  try {
    payload = Buffer.from(await reader.getBlob({ registry: image.registry, repository: image.repository, digest: image.digest }, layer.digest, MAX_SIGNATURE_BLOB_BYTES));
  } catch (error) {
    if (isRetryable(error)) throw error;
    return `payload cannot be read: ${safeText(error instanceof Error ? error.message : String(error))}`;
  }
  if (`sha256:${createHash('sha256').update(payload).digest('hex')}` !== layer.digest) return `payload does not match its digest ${layer.digest}`;
  const named = payloadDigest(payload);
  if (named === undefined) return 'payload is not a cosign simple-signing payload';
  if (named !== image.digest) return `payload names digest ${safeText(named)}, not ${image.digest}`;
  const signature = layer.annotations?.[COSIGN_ANNOTATIONS.signature];
  if (signature === undefined || signature === '') return `layer has no ${COSIGN_ANNOTATIONS.signature} annotation`;
  return rule.by === 'key' ? checkWithKey(rule, payload, signature) : checkKeyless(rule, payload, signature, layer, now);
}

// A key signature is ECDSA (or whatever the key is) over SHA-256 of the payload bytes, as cosign signs.
function checkWithKey(rule: KeyRule, payload: Buffer, signature: string): CandidateOutcome | string {
  let ok = false;
  try {
    ok = verifySignature('sha256', payload, rule.key.pem, Buffer.from(signature, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? { verified: { rule: rule.name, by: 'key', identity: rule.key.path, signature: 'cosign-tag' } } : `signature does not verify with key ${rule.key.path}`;
}

// A keyless layer becomes a Sigstore bundle (v0.1: a message signature, the certificate chain, the Rekor entry with its
// SET as inclusion promise), which @sigstore/verify checks as it would any bundle.
function checkKeyless(rule: KeylessRule, payload: Buffer, signature: string, layer: Layer, now: Date): CandidateOutcome | string {
  const certificate = layer.annotations?.[COSIGN_ANNOTATIONS.certificate];
  if (certificate === undefined || certificate === '') return 'signed with a key, not a certificate: the rule wants a keyless signature';
  let bundle: Bundle;
  try {
    // The signature first, so that a tampered payload is called that rather than a log entry that does not match it.
    if (!verifySignature('sha256', payload, createPublicKey(certificate), Buffer.from(signature, 'base64'))) return "signature does not verify with the certificate's key";
    bundle = legacyBundle(payload, signature, certificate, layer.annotations?.[COSIGN_ANNOTATIONS.chain], layer.annotations?.[COSIGN_ANNOTATIONS.bundle]);
  } catch (error) {
    return `not a valid cosign keyless signature: ${safeText(error instanceof Error ? error.message : String(error))}`;
  }
  const result = verifyKeylessBundle(rule, bundle, keylessTrustMaterial(rule), payload, now);
  if ('refused' in result) return result.refused;
  return { verified: { rule: rule.name, by: 'keyless', identity: result.identity, signature: 'cosign-tag' } };
}

/** The Sigstore bundle equivalent of a keyless `.sig` layer's annotations. */
export function legacyBundle(payload: Buffer, signature: string, certificatePem: string, chainPem: string | undefined, rekorBundle: string | undefined): Bundle {
  const certificates = [certificatePem, ...splitPem(chainPem ?? '')].map((text) => ({ rawBytes: pem.toDER(text).toString('base64') }));
  return bundleFromJSON({
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      x509CertificateChain: { certificates },
      tlogEntries: rekorBundle === undefined || rekorBundle === '' ? [] : [tlogEntry(rekorBundle)],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') }, signature },
  });
}

// cosign's bundle annotation: {SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}, Rekor's SET.
function tlogEntry(text: string): object {
  const parsed = JSON.parse(text) as { SignedEntryTimestamp?: unknown; Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown } };
  const body = parsed.Payload?.body;
  const { SignedEntryTimestamp: set } = parsed;
  const { integratedTime, logIndex, logID } = parsed.Payload ?? {};
  if (typeof body !== 'string' || typeof set !== 'string' || typeof integratedTime !== 'number' || typeof logIndex !== 'number' || typeof logID !== 'string') {
    throw new Error(`${COSIGN_ANNOTATIONS.bundle} is not a Rekor bundle (SignedEntryTimestamp, Payload.body, integratedTime, logIndex, logID)`);
  }
  const decoded = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as { kind?: unknown; apiVersion?: unknown };
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
    kindVersion: { kind: String(decoded.kind), version: String(decoded.apiVersion) },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: set },
    canonicalizedBody: body,
  };
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** `critical.image.docker-manifest-digest` of a simple-signing payload, or undefined when it is not one. */
export function payloadDigest(payload: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { critical?: { type?: unknown; image?: { 'docker-manifest-digest'?: unknown } } };
    const digest = parsed.critical?.image?.['docker-manifest-digest'];
    return parsed.critical?.type === COSIGN_PAYLOAD_TYPE && typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}

/** The layers of a manifest body, as far as they are descriptors; none for anything else. */
export function layersOf(body: string): Layer[] {
  try {
    const parsed = JSON.parse(body) as { layers?: unknown };
    if (!Array.isArray(parsed.layers)) return [];
    return parsed.layers.filter((layer): layer is Layer => typeof layer === 'object' && layer !== null && typeof layer.mediaType === 'string' && typeof layer.digest === 'string');
  } catch {
    return [];
  }
}
