import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatReference, type ImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { Verified, VerifyRule } from '../../../shared/plan/policy.ts';
import type { ArtifactReader, ImageVerifier, MirrorResult, OutcomeRecorder } from '../../../shared/ports.ts';
import { MAX_PEM_CHARS, MAX_TRUSTED_ROOT_CHARS } from '../../../shared/plan/policy.ts';
import { runWorkerJob, type WorkerEvent, type WorkerSettings } from '../../../shared/sync/worker-job.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

// The signature rule a worker event carries: checked field by field before anything is looked up, and handed to the
// engine's verifier as it was sent. The verifier itself is tested in test/shared/signatures/.

const D1 = `sha256:${'1'.repeat(64)}`;
const SOURCE = 'quay.io/app/one:1';
const settings: WorkerSettings = { target: parseTargetBase('registry.example.com/mirror'), nameTemplate: '{registry}/{repository}', allowRegistries: [], platforms: [] };
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

const keyRule: VerifyRule = { name: 'acme', images: ['quay.io/app/**'], by: 'key', key: { path: 'keys/acme.pub', pem: PEM } };
const keylessRule: VerifyRule = {
  name: 'distroless',
  images: ['quay.io/app/*'],
  by: 'keyless',
  issuer: { exact: 'https://accounts.google.com' },
  subject: { regexp: '^keyless@[a-z-]+\\.iam\\.gserviceaccount\\.com$' },
  trustedRoot: { path: 'roots/private.json', json: '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}' },
};

/** Records what it was asked to verify, and accepts it. */
class RecordingVerifier implements ImageVerifier {
  readonly calls: { rule: VerifyRule; image: string }[] = [];
  async verify(rule: VerifyRule, image: ImageReference, reader: ArtifactReader): Promise<Verified> {
    void reader;
    this.calls.push({ rule, image: formatReference(image) });
    return { rule: rule.name, by: rule.by, identity: rule.by === 'key' ? rule.key.path : 'keyless@x (https://accounts.google.com)', signature: 'cosign-tag' };
  }
}

class KeptRecorder implements OutcomeRecorder {
  readonly results: MirrorResult[] = [];
  record(result: MirrorResult): void {
    this.results.push(result);
  }
  retrying(): void {}
}

async function run(event: WorkerEvent, workerSettings: WorkerSettings = settings) {
  const registry = new FakeManifestRegistry();
  registry.digests.set(SOURCE, D1);
  const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? D1));
  const verifier = new RecordingVerifier();
  const recorder = new KeptRecorder();
  const result = await runWorkerJob(event, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder, verifier }, workerSettings);
  return { result, registry, copier, verifier, recorder };
}

describe('runWorkerJob: the event\'s signature rule', () => {
  it.each([
    ['a key rule', keyRule],
    ['a keyless rule with its own trust root', keylessRule],
    ['a keyless rule on the public-good root', { ...keylessRule, trustedRoot: undefined, subject: { exact: 'keyless@distroless.iam.gserviceaccount.com' } }],
  ])('hands %s to the verifier as it was sent, for the digest mirrored', async (_, rule) => {
    const sent = JSON.parse(JSON.stringify(rule)) as VerifyRule;
    const { result, verifier, copier } = await run({ source: SOURCE, verify: sent });
    expect(verifier.calls).toEqual([{ rule: sent, image: `quay.io/app/one@${D1}` }]);
    expect(result).toMatchObject({ status: 'copied', verified: { rule: rule.name, by: rule.by } });
    expect(copier.requests).toHaveLength(1);
  });

  it('verifies nothing for an event without a rule', async () => {
    const { result, verifier } = await run({ source: SOURCE });
    expect(result.status).toBe('copied');
    expect(verifier.calls).toEqual([]);
  });

  const huge = `-----BEGIN PUBLIC KEY-----\n${'QUFB\n'.repeat(MAX_PEM_CHARS / 5 + 1)}-----END PUBLIC KEY-----\n`;
  it.each([
    ['a string', 'acme', '"verify" is not a signature policy rule'],
    ['null', null, '"verify" is not a signature policy rule'],
    ['no `by`', { name: 'acme', images: ['quay.io/**'], key: keyRule.key }, '"verify.by"'],
    ['an unknown `by`', { ...keyRule, by: 'cosign' }, '"verify.by"'],
    ['a key rule without its key', { name: 'acme', images: ['quay.io/**'], by: 'key' }, '"verify.key" (rule "acme")'],
    ['a key rule that also names an issuer', { ...keyRule, issuer: { exact: 'https://accounts.google.com' } }, '(rule "acme")'],
    ['no name', { ...keyRule, name: '' }, '"verify.name"'],
    ['no image pattern', { ...keyRule, images: [] }, '"verify.images" (rule "acme") is not a signature policy rule the worker can hold the image to: must name at least one pattern'],
    ['a key that is no PEM public key', { ...keyRule, key: { path: 'keys/acme.pub', pem: 'ssh-ed25519 AAAA' } }, '"verify.key.pem" (rule "acme") is not a signature policy rule the worker can hold the image to: is not a PEM public key'],
    ['a PEM key of megabytes', { ...keyRule, key: { path: 'keys/acme.pub', pem: huge } }, `"verify.key.pem" (rule "acme") is not a signature policy rule the worker can hold the image to: must be at most ${MAX_PEM_CHARS} characters`],
    ['a subject that is both exact and a regexp', { ...keylessRule, subject: { exact: 'a', regexp: 'b' } }, '"verify.subject" (rule "distroless")'],
    ['a subject regexp that does not compile', { ...keylessRule, subject: { regexp: 'keyless@(' } }, '"verify.subject.regexp" (rule "distroless") is not a signature policy rule the worker can hold the image to: is not a regular expression that compiles'],
    ['no issuer', { ...keylessRule, issuer: undefined }, '"verify.issuer" (rule "distroless")'],
    ['a trust root that is no JSON', { ...keylessRule, trustedRoot: { path: 'roots/private.json', json: 'not json' } }, '"verify.trustedRoot.json" (rule "distroless") is not a signature policy rule the worker can hold the image to: is not a JSON object'],
    ['a trust root too large for an event', { ...keylessRule, trustedRoot: { path: 'roots/private.json', json: `{"x":"${'a'.repeat(MAX_TRUSTED_ROOT_CHARS)}"}` } }, `"verify.trustedRoot.json" (rule "distroless") is not a signature policy rule the worker can hold the image to: must be at most ${MAX_TRUSTED_ROOT_CHARS} characters`],
  ])('fails the job for a rule with %s, saying why, touching no registry and verifying nothing', async (_, verify, message) => {
    const { result, registry, copier, verifier, recorder } = await run({ source: SOURCE, verify: verify === undefined ? undefined : JSON.parse(JSON.stringify(verify)) });
    expect(result).toMatchObject({ status: 'failed', retryable: false, source: SOURCE, target: null });
    expect(result.error).toMatch(/^invalid worker event: "verify/);
    expect(result.error).toContain(message);
    expect(result.error).toContain('the image is not mirrored');
    expect(registry.calls).toEqual([]);
    expect(copier.requests).toEqual([]);
    expect(verifier.calls).toEqual([]);
    expect(recorder.results).toEqual([result]);
  });

  it('keeps a huge key out of the result line', async () => {
    const { result } = await run({ source: SOURCE, verify: { ...keyRule, key: { path: 'keys/acme.pub', pem: huge } } });
    expect(result.error!.length).toBeLessThan(1_000);
  });
});

describe('runWorkerJob: ARTIFACTS', () => {
  const sigTag = `HEAD quay.io/app/one:sha256-${'1'.repeat(64)}.sig`;

  it('looks for the image\'s signature by default (signatures), and not with none', async () => {
    const byDefault = await run({ source: SOURCE });
    expect(byDefault.result.status).toBe('copied');
    expect(byDefault.registry.calls).toContain(sigTag);
    const none = await run({ source: SOURCE }, { ...settings, artifacts: 'none' });
    expect(none.result.status).toBe('copied');
    expect(none.registry.calls.filter((call) => call.includes('sha256-'))).toEqual([]);
  });
});

