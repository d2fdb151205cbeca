// Signatures made in the test, in the exact layouts cosign writes, for the policy and verification tests.
// - cosign's legacy `.sig` tag: https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md (an OCI manifest
//   whose layers are `application/vnd.dev.cosign.simplesigning.v1+json` payloads, the signature, certificate, chain and
//   Rekor bundle in each layer's annotations; a config whose rootfs.diff_ids are the layer digests).
// - Sigstore bundles stored as OCI referrers (cosign v3): a manifest of artifactType
//   `application/vnd.dev.sigstore.bundle.v0.3+json`, empty config, the bundle JSON as its one layer, `subject` the image.
// Keyless signatures are made against @sigstore/mock's test authorities (a Fulcio CA with a CT log, a Rekor log), whose
// trusted_root.json the tests hand to the policy rule.
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { initializeCA, initializeCTLog, initializeTLog } from '@sigstore/mock';
import { parseManifestJson } from '../../shared/oci/manifest.ts';
import { cosignTag, referrersTag, SIGSTORE_BUNDLE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE } from '../../shared/oci/artifacts.ts';
import type { ImageReference } from '../../shared/image-ref/reference.ts';
import type { IdentityMatcher, KeylessRule, KeyRule } from '../../shared/plan/policy.ts';
import type { ArtifactReader, Manifest, ReferrerDescriptor } from '../../shared/ports.ts';
import { fetchManifest, pushBlob, pushManifest, sha256Digest } from './oci-push.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const IN_TOTO = 'application/vnd.in-toto+json';

/** An ECDSA P-256 key pair in PEM, as `cosign generate-key-pair` makes (unencrypted here). */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicPem: string;
}

/** A blob to push with a manifest. */
export interface BlobFixture {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
}

/** A signature artifact: the manifest's exact bytes, its digest, the blobs it names; the tag it goes under, if any. */
export interface ArtifactFixture {
  readonly tag?: string;
  readonly mediaType: string;
  readonly body: string;
  readonly digest: string;
  readonly blobs: readonly BlobFixture[];
  /** For a referrer: its artifact type, as a referrers list names it. */
  readonly artifactType?: string;
}

/** The test Sigstore: a Fulcio CA with its CT log, and a Rekor log; `trustedRoot` is their trusted_root.json. */
export interface TestAuthorities {
  readonly trustedRoot: string;
  /** The CA's certificate chain in PEM (its root), as cosign puts it in the `dev.sigstore.cosign/chain` annotation. */
  readonly chain: string;
  issueCertificate(publicKey: KeyObject, identity: KeylessIdentity, clock?: Date): Promise<Buffer>;
  /** Logs an entry in the test Rekor (at `clock`) and returns cosign's bundle annotation form of it, and Rekor's answer. */
  log(entry: object, clock?: Date): Promise<RekorEntry>;
}

/** An OIDC identity a Fulcio certificate binds: issuer and subject (a URI, as CI workload identities are). */
export interface KeylessIdentity {
  readonly issuer: string;
  readonly subject: string;
}

/** The identity the tests sign keyless as: a GitHub Actions release workflow. */
export const TEST_IDENTITY: KeylessIdentity = { issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main' };

/** A signing key and the test authorities, with a key rule for the key and a keyless rule for TEST_IDENTITY under the test trust root. */
export interface TestSigners {
  readonly key: SigningKey;
  readonly authorities: TestAuthorities;
  readonly keyRule: KeyRule;
  readonly keylessRule: KeylessRule;
}

/** Fresh signers and their two rules for `images`; the keyless rule's subject is TEST_IDENTITY's exactly unless told otherwise. */
export async function testSigners(options: { images: readonly string[]; keyRuleName?: string; keylessRuleName?: string; subject?: IdentityMatcher }): Promise<TestSigners> {
  const key = generateSigningKey();
  const authorities = await createTestAuthorities();
  return {
    key,
    authorities,
    keyRule: { name: options.keyRuleName ?? 'acme', images: options.images, by: 'key', key: { path: 'keys/acme.pub', pem: key.publicPem } },
    keylessRule: {
      name: options.keylessRuleName ?? 'acme-ci',
      images: options.images,
      by: 'keyless',
      issuer: { exact: TEST_IDENTITY.issuer },
      subject: options.subject ?? { exact: TEST_IDENTITY.subject },
      trustedRoot: { path: 'roots/test.json', json: authorities.trustedRoot },
    },
  };
}

interface RekorEntry {
  readonly body: string;
  readonly integratedTime: number;
  readonly logIndex: number;
  readonly logID: string;
  readonly signedEntryTimestamp: string;
  readonly inclusionProof: { logIndex: number; treeSize: number; rootHash: string; hashes: string[]; checkpoint: string };
}

/** A fresh ECDSA P-256 key pair, the kind cosign generates. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The simple-signing payload cosign signs for an image digest, with the reference it was signed under. */
export function simpleSigningPayload(digest: string, dockerReference: string): Buffer {
  return Buffer.from(
    JSON.stringify({ critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: null }),
  );
}

/** Options that make a signature wrong on purpose. */
export interface LegacyOptions {
  /** Sign this payload instead of the one for `digest` (a payload naming another digest). */
  readonly payload?: Buffer;
  /** Replace the payload after signing (the signature then covers other bytes: a tampered payload). */
  readonly tamper?: (payload: Buffer) => Buffer;
}

/** cosign's `.sig` manifest for `digest`, signed with a key (`cosign sign --key`, no transparency log). */
export function signLegacyWithKey(digest: string, dockerReference: string, key: SigningKey, options: LegacyOptions = {}): ArtifactFixture {
  const signed = options.payload ?? simpleSigningPayload(digest, dockerReference);
  const signature = sign('sha256', signed, key.privateKey).toString('base64');
  const payload = options.tamper?.(signed) ?? signed;
  return sigManifest(digest, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': signature } }]);
}

/** Options of a keyless signature. */
export interface KeylessOptions extends LegacyOptions {
  /** The CA's clock: a certificate issued two hours ago has expired (Fulcio's last ten minutes). */
  readonly certificateClock?: Date;
  /** No Rekor entry (`--tlog-upload=false`): nothing proves when the certificate signed. */
  readonly withoutTlog?: boolean;
}

/**
 * cosign's `.sig` manifest for `digest`, signed keyless: an ephemeral key, a test Fulcio certificate for `identity`,
 * and a hashedrekord entry in the test Rekor whose SET goes in the `dev.sigstore.cosign/bundle` annotation.
 */
export async function signLegacyKeyless(authorities: TestAuthorities, digest: string, dockerReference: string, identity: KeylessIdentity, options: KeylessOptions = {}): Promise<ArtifactFixture> {
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificate = toPem(await authorities.issueCertificate(ephemeral.publicKey, identity, options.certificateClock));
  const signed = options.payload ?? simpleSigningPayload(digest, dockerReference);
  const signature = sign('sha256', signed, ephemeral.privateKey).toString('base64');
  const annotations: Record<string, string> = {
    'dev.cosignproject.cosign/signature': signature,
    'dev.sigstore.cosign/certificate': certificate,
    'dev.sigstore.cosign/chain': authorities.chain,
  };
  if (options.withoutTlog !== true) {
    const entry = await authorities.log({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(signed).digest('hex') } },
        signature: { content: signature, publicKey: { content: Buffer.from(certificate).toString('base64') } },
      },
    });
    annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({
      SignedEntryTimestamp: entry.signedEntryTimestamp,
      Payload: { body: entry.body, integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: entry.logID },
    });
  }
  const payload = options.tamper?.(signed) ?? signed;
  return sigManifest(digest, [{ payload, annotations }]);
}

/** Options of a bundle referrer. */
export interface BundleOptions {
  /** The statement's subject digest, when it should name another image. */
  readonly statementDigest?: string;
  /** The statement's predicate type: cosign's image signature unless told (an attestation has another). */
  readonly predicateType?: string;
}

/**
 * A Sigstore bundle (v0.3, DSSE envelope of an in-toto statement whose subject is the image, as `cosign sign` with the
 * new bundle format writes) stored as a referrer of `digest`: signed keyless with the test authorities and logged in
 * the test Rekor, or with `key` (a public-key bundle, no log entry).
 */
export async function bundleReferrer(digest: string, signer: { authorities: TestAuthorities; identity: KeylessIdentity } | { key: SigningKey }, options: BundleOptions = {}): Promise<ArtifactFixture> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'image', digest: { sha256: (options.statementDigest ?? digest).slice('sha256:'.length) } }],
    predicateType: options.predicateType ?? 'https://sigstore.dev/cosign/sign/v1',
    predicate: {},
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${IN_TOTO.length} ${IN_TOTO} ${payload.length} `), payload]);
  let bundle: object;
  if ('key' in signer) {
    const signature = sign('sha256', pae, signer.key.privateKey).toString('base64');
    bundle = {
      mediaType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
      verificationMaterial: { publicKey: { hint: 'test-key' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
      dsseEnvelope: { payload: payload.toString('base64'), payloadType: IN_TOTO, signatures: [{ sig: signature, keyid: '' }] },
    };
  } else {
    const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const certificate = await signer.authorities.issueCertificate(ephemeral.publicKey, signer.identity);
    const signature = sign('sha256', pae, ephemeral.privateKey).toString('base64');
    const envelope = { payload: payload.toString('base64'), payloadType: IN_TOTO, signatures: [{ sig: signature, keyid: '' }] };
    const entry = await signer.authorities.log({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: createHash('sha256').update(JSON.stringify(envelope)).digest('hex') },
        payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
        signatures: [{ signature, verifier: Buffer.from(toPem(certificate)).toString('base64') }],
      },
    });
    bundle = {
      mediaType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
      verificationMaterial: {
        certificate: { rawBytes: certificate.toString('base64') },
        tlogEntries: [
          {
            logIndex: String(entry.logIndex),
            logId: { keyId: Buffer.from(entry.logID, 'hex').toString('base64') },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: String(entry.integratedTime),
            inclusionPromise: { signedEntryTimestamp: entry.signedEntryTimestamp },
            inclusionProof: {
              logIndex: String(entry.inclusionProof.logIndex),
              rootHash: Buffer.from(entry.inclusionProof.rootHash, 'hex').toString('base64'),
              treeSize: String(entry.inclusionProof.treeSize),
              hashes: entry.inclusionProof.hashes,
              checkpoint: { envelope: entry.inclusionProof.checkpoint },
            },
            canonicalizedBody: entry.body,
          },
        ],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: envelope,
    };
  }
  return referrerManifest(digest, Buffer.from(JSON.stringify(bundle)));
}

/** A referrer manifest of `subjectDigest` carrying `bundle` as its one layer (how cosign v3 stores a bundle). */
export function referrerManifest(subjectDigest: string, bundle: Buffer): ArtifactFixture {
  const empty = Buffer.from('{}');
  const layer = { mediaType: SIGSTORE_BUNDLE_ARTIFACT_TYPE, digest: sha256Digest(bundle), size: bundle.length };
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
    config: { mediaType: OCI_EMPTY, digest: sha256Digest(empty), size: empty.length },
    layers: [layer],
    subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: 0 },
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
  });
  return {
    mediaType: OCI_MANIFEST,
    body,
    digest: sha256Digest(body),
    artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
    blobs: [
      { mediaType: OCI_EMPTY, digest: sha256Digest(empty), bytes: empty },
      { mediaType: SIGSTORE_BUNDLE_ARTIFACT_TYPE, digest: layer.digest, bytes: bundle },
    ],
  };
}

// The `.sig` manifest: a config whose rootfs lists the payloads, and one simple-signing layer per signature.
function sigManifest(digest: string, layers: readonly { payload: Buffer; annotations: Record<string, string> }[]): ArtifactFixture {
  const payloadBlobs = layers.map(({ payload }) => ({ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: sha256Digest(payload), bytes: payload }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: payloadBlobs.map((blob) => blob.digest) },
      config: {},
    }),
  );
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: sha256Digest(config) },
    layers: layers.map(({ annotations }, i) => ({ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, size: payloadBlobs[i]!.bytes.length, digest: payloadBlobs[i]!.digest, annotations })),
  });
  return { tag: cosignTag(digest, 'sig'), mediaType: OCI_MANIFEST, body, digest: sha256Digest(body), blobs: [{ mediaType: OCI_CONFIG, digest: sha256Digest(config), bytes: config }, ...payloadBlobs] };
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

const FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

/**
 * The test authorities. Their CA and logs are valid from 2000 on in the trusted root; a certificate lives ten minutes
 * from the CA clock, and log entries are stamped a few seconds after the real time, inside that window.
 */
export async function createTestAuthorities(): Promise<TestAuthorities> {
  const pair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ctLog = await initializeCTLog(pair());
  const caKey = pair();
  const tlogKey = pair();
  const ca = await initializeCA(caKey, ctLog, new Date(Date.now() - 60_000));
  const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  const tlogSpki = spki(tlogKey.publicKey);
  const since = { start: '2000-01-01T00:00:00Z' };
  const rootDer = Buffer.from(ca.rootCertificate.buffer, ca.rootCertificate.byteOffset, ca.rootCertificate.byteLength);
  const trustedRoot = JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: tlogSpki.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: since },
        logId: { keyId: createHash('sha256').update(tlogSpki).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: 'https://fulcio.test',
        certChain: { certificates: [{ rawBytes: rootDer.toString('base64') }] },
        validFor: since,
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: ctLog.publicKey.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: since },
        logId: { keyId: Buffer.from(ctLog.logID.buffer, ctLog.logID.byteOffset, ctLog.logID.byteLength).toString('base64') },
      },
    ],
    timestampAuthorities: [],
  });
  return {
    trustedRoot,
    chain: toPem(rootDer),
    async issueCertificate(publicKey, identity, clock) {
      const issuing = clock === undefined ? ca : await initializeCAAt(caKey, clock);
      const der = await issuing.issueCertificate({
        publicKey: spki(publicKey),
        subjectAltName: identity.subject,
        extensions: [
          { oid: FULCIO_ISSUER_V1, value: identity.issuer, legacy: true },
          { oid: FULCIO_ISSUER_V2, value: identity.issuer },
        ],
      });
      return Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    },
    async log(entry, clock) {
      const tlog = await initializeTLog('https://rekor.test', tlogKey, clock ?? new Date(Date.now() + 5_000));
      const answer = Object.values(await tlog.log(entry))[0] as {
        body: string;
        integratedTime: number;
        logID: string;
        logIndex: number;
        verification: { signedEntryTimestamp: string; inclusionProof: RekorEntry['inclusionProof'] };
      };
      return {
        body: answer.body,
        integratedTime: answer.integratedTime,
        logIndex: answer.logIndex,
        logID: answer.logID,
        signedEntryTimestamp: answer.verification.signedEntryTimestamp,
        inclusionProof: answer.verification.inclusionProof,
      };
    },
  };

  // A CA with the same key at another clock: its root certificate differs, so only for certificates meant to fail.
  async function initializeCAAt(key: ReturnType<typeof pair>, clock: Date) {
    return initializeCA(key, ctLog, clock);
  }
}

/**
 * An in-memory ArtifactReader holding artifacts of one repository: what a registry would answer for `.sig` tags,
 * referrers (through the API, or the referrers tag index when `referrersApi` is false) and blobs.
 */
export class MemoryArtifacts implements ArtifactReader {
  private readonly manifests = new Map<string, { mediaType: string; body: string; digest: string }>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly referrers = new Map<string, ReferrerDescriptor[]>();
  readonly blobReads: string[] = [];

  constructor(private readonly referrersApi = true) {}

  /** Stores a `.sig` manifest under its tag, or a referrer by digest and in its subject's referrers list. */
  add(artifact: ArtifactFixture, subject?: string): this {
    for (const blob of artifact.blobs) this.blobs.set(blob.digest, blob.bytes);
    const stored = { mediaType: artifact.mediaType, body: artifact.body, digest: artifact.digest };
    this.manifests.set(artifact.digest, stored);
    if (artifact.tag !== undefined) this.manifests.set(artifact.tag, stored);
    if (subject !== undefined) {
      const list = [...(this.referrers.get(subject) ?? []), { mediaType: artifact.mediaType, digest: artifact.digest, size: Buffer.byteLength(artifact.body), ...(artifact.artifactType === undefined ? {} : { artifactType: artifact.artifactType }) }];
      this.referrers.set(subject, list);
      const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: list });
      const tagIndex = { mediaType: OCI_INDEX, body: index, digest: sha256Digest(index) };
      this.manifests.set(referrersTag(subject), tagIndex);
      this.manifests.set(tagIndex.digest, tagIndex);
    }
    return this;
  }

  /** Replaces a blob's bytes without changing its digest: what a registry that lies would serve. */
  corruptBlob(digest: string, bytes: Buffer): void {
    this.blobs.set(digest, bytes);
  }

  async headManifest(ref: ImageReference) {
    const found = this.manifests.get(ref.digest ?? ref.tag ?? '');
    return found === undefined ? undefined : { digest: found.digest, mediaType: found.mediaType };
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    const found = this.manifests.get(ref.digest ?? ref.tag ?? '');
    return found === undefined ? undefined : { ...found, json: parseManifestJson(found.body) };
  }

  async listReferrers(ref: ImageReference): Promise<ReferrerDescriptor[] | undefined> {
    if (!this.referrersApi) return undefined;
    return [...(this.referrers.get(ref.digest ?? '') ?? [])];
  }

  async getBlob(_ref: ImageReference, digest: string, maxBytes: number): Promise<Uint8Array> {
    this.blobReads.push(digest);
    const bytes = this.blobs.get(digest);
    if (bytes === undefined) throw new Error(`blob ${digest} not found`);
    if (bytes.length > maxBytes) throw new Error(`blob ${digest} is larger than ${maxBytes} bytes`);
    return bytes;
  }
}

/** Pushes a `.sig` manifest (with its blobs) under its tag to `<registry>/<repository>` of the stack. */
export async function pushSignature(registry: string, repository: string, artifact: ArtifactFixture): Promise<string> {
  for (const blob of artifact.blobs) await pushBlob(registry, repository, blob.bytes, blob.mediaType);
  const { digest } = await pushManifest(registry, repository, artifact.tag ?? artifact.digest, artifact.body, artifact.mediaType);
  return digest;
}

/**
 * Pushes a referrer by digest and, when the registry does not serve the referrers API, adds it to the subject's
 * referrers tag index (`sha256-<hex>`), as cosign and oras do.
 */
export async function pushReferrer(registry: string, repository: string, artifact: ArtifactFixture, subject: string): Promise<string> {
  for (const blob of artifact.blobs) await pushBlob(registry, repository, blob.bytes, blob.mediaType);
  const { digest } = await pushManifest(registry, repository, artifact.digest, artifact.body, artifact.mediaType);
  const api = await fetch(`http://${registry}/v2/${repository}/referrers/${subject}`);
  await api.arrayBuffer();
  if (api.status === 200) return digest;
  const existing = await fetchManifest(registry, repository, referrersTag(subject));
  const manifests = existing === undefined ? [] : [...(parseManifestJson(existing.body).manifests ?? [])];
  manifests.push({ mediaType: artifact.mediaType, digest, size: Buffer.byteLength(artifact.body), ...(artifact.artifactType === undefined ? {} : { artifactType: artifact.artifactType }) } as (typeof manifests)[number]);
  await pushManifest(registry, repository, referrersTag(subject), { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, OCI_INDEX);
  return digest;
}
