// Issue 15's "Done when", through the real `mirror` CLI against the stack's registries and the real crane: signatures
// travel with the image, a signature policy in the images tree refuses what it covers and cannot verify, and a no-op
// run over signed images spends no manifest GET on the source.
// The source is read through a proxy that logs every request (watchSource()); a referrers-API emulator in front of that
// proxy plays a source serving `GET /v2/<name>/referrers/<digest>`, so both sources' requests land in the same log.
// The target (distribution 2.8) serves no referrers API: referrers reach it by digest, listed in its referrers tag index.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import { parseImageReference } from '../../shared/image-ref/reference.ts';
import { cosignTag, referrersTag, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../shared/oci/artifacts.ts';
import type { KeylessRule, KeyRule, VerifyRule } from '../../shared/plan/policy.ts';
import type { Report } from '../../shared/plan/report.ts';
import type { MirrorResult } from '../../shared/ports.ts';
import { StaticCredentialProvider } from '../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../shared/registry/http-registry.ts';
import { createImageVerifier } from '../../shared/signatures/verify-image.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { fetchManifest } from '../support/oci-push.ts';
import { type ReferrersRegistry, startReferrersRegistry } from '../support/referrers-registry.ts';
import {
  type ArtifactFixture,
  bundleReferrer,
  createTestAuthorities,
  generateSigningKey,
  pushReferrer,
  pushSignature,
  type SigningKey,
  signLegacyKeyless,
  signLegacyWithKey,
  simpleSigningPayload,
  TEST_IDENTITY,
  type TestAuthorities,
} from '../support/signing.ts';
import { type AccessLogEntry, manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

const identity = TEST_IDENTITY;
const keylessIdentity = `${identity.subject} (${identity.issuer})`;
const mallory = 'https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main';

/** An image of the tree: where it lives upstream, its digest, and the signature artifacts pushed for it. */
interface Fixture {
  readonly host: string;
  readonly repo: string;
  readonly digest: string;
  sig?: ArtifactFixture;
  bundle?: ArtifactFixture;
}

describe('signatures travel with the image and a policy decides what is mirrored (mirror CLI, real registries, real crane)', () => {
  const s = stack();
  const auth = { username: s.targetUsername, password: s.targetPassword };
  const target: SeedTarget = { registry: s.targetRegistry, auth };
  const ns = uniqueName('sigs');
  const prefix = `mirror-${ns}`;
  let watched: FaultProxy;
  let api: ReferrersRegistry;
  let key: SigningKey;
  let authorities: TestAuthorities;
  let keyRule: KeyRule;
  let keylessRule: KeylessRule;
  let images = '';
  let credentials = '';
  const fx: Record<string, Fixture> = {};

  const GOOD = ['key-signed', 'keyless-sig', 'keyless-bundle-api', 'keyless-bundle-tags'] as const;
  const BAD = {
    'key-unsigned': 'no signature found at',
    'key-tampered': 'signature does not verify with key keys/acme.pub',
    'key-other-digest': 'payload names digest ', // completed with the other image's digest below
    'keyless-wrong-identity': `certificate identity "${mallory}"`,
    'keyless-expired': 'and no transparency log entry',
  } as const;

  const sourceOf = (name: string) => `${fx[name]!.host}/${ns}/${name}`;
  const targetRepo = (name: string, base = prefix) => `${base}/${fx[name]!.host.replace(':', '-')}/${ns}/${name}`;
  const targetClient = () => new HttpRegistryClient({ credentials: new StaticCredentialProvider(new Map([[s.targetRegistry, auth]])) });
  const sync = (...extra: string[]) => runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, '--json', ...extra], { CRANE: s.crane });
  const resultsOf = (run: { stdout: string }) => new Map((JSON.parse(run.stdout) as Report).results.map((r): [string, MirrorResult] => [r.source.replace(/:1$/, '').replace(/^.*\//, ''), r]));
  const onlyGood = () => [...GOOD, 'plain'].flatMap((name) => ['--only', sourceOf(name)]);
  const ruleOf = (name: string): VerifyRule => (name.startsWith('keyless') ? keylessRule : keyRule);
  const verifiedAs = (name: string) => (name.startsWith('keyless') ? { rule: 'ci', by: 'keyless', identity: keylessIdentity } : { rule: 'acme', by: 'key', identity: 'keys/acme.pub' });

  /** Pushes a fresh image `name:1` through `host` and records it. */
  const image = async (name: string, host: string) => {
    fx[name] = { host, repo: `${ns}/${name}`, digest: (await pushImage({ registry: host }, `${ns}/${name}`, '1')).digest };
    return fx[name];
  };
  const withSig = async (name: string, sig: ArtifactFixture) => {
    await pushSignature(fx[name]!.host, fx[name]!.repo, sig);
    fx[name]!.sig = sig;
  };

  beforeAll(async () => {
    watched = await watchSource();
    api = await startReferrersRegistry(watched.host);
    key = generateSigningKey();
    authorities = await createTestAuthorities();
    keyRule = { name: 'acme', images: ['**'], by: 'key', key: { path: 'keys/acme.pub', pem: key.publicPem } };
    keylessRule = { name: 'ci', images: ['**'], by: 'keyless', issuer: { exact: identity.issuer }, subject: { exact: identity.subject }, trustedRoot: { path: 'roots/test.json', json: authorities.trustedRoot } };
    const w = watched.host;

    const keySigned = await image('key-signed', w);
    await withSig('key-signed', signLegacyWithKey(keySigned.digest, sourceOf('key-signed'), key));
    const keylessSig = await image('keyless-sig', w);
    await withSig('keyless-sig', await signLegacyKeyless(authorities, keylessSig.digest, sourceOf('keyless-sig'), identity));
    for (const [name, host] of [['keyless-bundle-api', api.host], ['keyless-bundle-tags', w]] as const) {
      const pushed = await image(name, host);
      pushed.bundle = await bundleReferrer(pushed.digest, { authorities, identity });
      await pushReferrer(host, pushed.repo, pushed.bundle, pushed.digest);
    }
    await image('key-unsigned', w);
    const tampered = await image('key-tampered', w);
    await withSig('key-tampered', signLegacyWithKey(tampered.digest, sourceOf('key-tampered'), key, { tamper: (payload) => Buffer.from(payload.toString().replace('"optional":null', '"optional":{}')) }));
    const other = await image('key-other-digest', w);
    await withSig('key-other-digest', signLegacyWithKey(other.digest, sourceOf('key-other-digest'), key, { payload: simpleSigningPayload(keySigned.digest, sourceOf('key-signed')) }));
    const wrong = await image('keyless-wrong-identity', w);
    await withSig('keyless-wrong-identity', await signLegacyKeyless(authorities, wrong.digest, sourceOf('keyless-wrong-identity'), { ...identity, subject: mallory }));
    const expired = await image('keyless-expired', w);
    await withSig('keyless-expired', await signLegacyKeyless(authorities, expired.digest, sourceOf('keyless-expired'), identity, { certificateClock: new Date(Date.now() - 2 * 3600_000), withoutTlog: true }));
    await image('plain', w);

    const policy = [
      'rules:',
      '  - name: acme',
      `    images: ["${w}/${ns}/key-*"]`,
      '    key: keys/acme.pub',
      '  - name: ci',
      `    images: ["${w}/${ns}/keyless-*", "${api.host}/${ns}/keyless-*"]`,
      '    keyless:',
      `      issuer: ${identity.issuer}`,
      `      subject: ${identity.subject}`,
      '      trustedRoot: roots/test.json',
      '',
    ].join('\n');
    images = await writeImagesTree({
      'signature-policy.yaml': policy,
      'keys/acme.pub': key.publicPem,
      'roots/test.json': authorities.trustedRoot,
      ...Object.fromEntries(Object.keys(fx).map((name) => [`${fx[name]!.host}/${ns}/${name}/Dockerfile`, `FROM ${sourceOf(name)}:1\n`])),
    });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: auth }), { mode: 0o600 });
  });

  afterAll(async () => {
    await api?.close();
    await watched?.close();
  });

  describe('the policy refuses what it covers and cannot verify; every other image is mirrored', () => {
    it('plan names the rule of each image', async () => {
      const run = await runCli(['plan', '--images', images, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const results = resultsOf(run);
      expect([...results.keys()].sort()).toEqual(Object.keys(fx).sort());
      for (const [name, result] of results) {
        if (name === 'plain') expect(result.rule, name).toBeUndefined();
        else expect(result.rule, name).toEqual({ name: name.startsWith('keyless') ? 'ci' : 'acme', by: name.startsWith('keyless') ? 'keyless' : 'key' });
      }
    });

    it('copies each verified image with `verified`, fails each bad one as unverified with its own reason, copies the uncovered one, and exits 1', async () => {
      const run = await sync();
      expect(run.code, run.stderr).toBe(1);
      const results = resultsOf(run);
      for (const name of GOOD) {
        expect(results.get(name), name).toMatchObject({ status: 'copied', digest: fx[name]!.digest, verified: verifiedAs(name) });
        expect(results.get(name)?.reason, name).toBeUndefined();
      }
      expect(results.get('keyless-sig')?.verified?.signature).toBe('cosign-tag');
      expect(results.get('keyless-bundle-api')?.verified?.signature).toBe('referrer');
      expect(results.get('keyless-bundle-tags')?.verified?.signature).toBe('referrer');
      for (const [name, reason] of Object.entries(BAD)) {
        const result = results.get(name);
        expect(result, name).toMatchObject({ status: 'failed', reason: 'unverified', retryable: false });
        expect(result?.verified, name).toBeUndefined();
        // The message names this image (by its digest) and this image's own problem.
        expect(result?.error, name).toContain(`${fx[name]!.repo}@${fx[name]!.digest}`);
        expect(result?.error, name).toContain(name === 'key-other-digest' ? `${reason}${fx['key-signed']!.digest}` : reason);
      }
      expect(results.get('plain')).toMatchObject({ status: 'copied', digest: fx['plain']!.digest });
      expect(results.get('plain')?.verified).toBeUndefined();
      expect((JSON.parse(run.stdout) as Report).summary).toMatchObject({ planned: Object.keys(fx).length, copied: GOOD.length + 1, failed: Object.keys(BAD).length });
    });

    it('leaves nothing of a refused image in the target: no tag, no .sig, no repository', async () => {
      for (const name of Object.keys(BAD)) {
        expect(await manifestDigest(target, targetRepo(name), '1'), name).toBeUndefined();
        expect(await manifestDigest(target, targetRepo(name), fx[name]!.digest), name).toBeUndefined();
        expect(await manifestDigest(target, targetRepo(name), cosignTag(fx[name]!.digest, 'sig')), name).toBeUndefined();
        const tags = await fetch(`http://${s.targetRegistry}/v2/${targetRepo(name)}/tags/list`, { headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } });
        await tags.arrayBuffer();
        expect(tags.status, name).toBe(404);
      }
      expect(await manifestDigest(target, targetRepo('plain'), '1')).toBe(fx['plain']!.digest);
    });
  });

  describe("the target holds the signatures with the source's digests, and they verify there", () => {
    it('holds each .sig tag with the digest the source has', async () => {
      for (const name of ['key-signed', 'keyless-sig']) {
        const tag = cosignTag(fx[name]!.digest, 'sig');
        const upstream = await fetchManifest(s.sourceRegistry, fx[name]!.repo, tag);
        expect(upstream?.digest, name).toBe(fx[name]!.sig!.digest);
        expect(await manifestDigest(target, targetRepo(name), tag), name).toBe(upstream?.digest);
        expect(await manifestDigest(target, targetRepo(name), '1'), name).toBe(fx[name]!.digest);
      }
    });

    // Crane, copying a referrer to a target without the API, lists it in the target's referrers tag itself with the
    // config's media type (application/vnd.oci.empty.v1+json) as its artifactType: the engine writes it anew as a bundle.
    it.each(['keyless-bundle-api', 'keyless-bundle-tags'])('holds the bundle referrer of %s by its source digest, listed as a bundle in the target referrers tag', async (name) => {
      const { digest, bundle, repo } = fx[name]!;
      expect(await fetchManifest(s.sourceRegistry, repo, bundle!.digest)).toMatchObject({ digest: bundle!.digest });
      expect(await manifestDigest(target, targetRepo(name), bundle!.digest)).toBe(bundle!.digest);
      const index = await targetClient().getManifest(parseImageReference(`${s.targetRegistry}/${targetRepo(name)}:${referrersTag(digest)}`));
      expect(index?.json.manifests).toContainEqual(expect.objectContaining({ digest: bundle!.digest, artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE }));
    });

    it("keeps a tag-scheme source's referrers tag byte for byte", async () => {
      const { digest, repo } = fx['keyless-bundle-tags']!;
      const upstreamIndex = await fetchManifest(s.sourceRegistry, repo, referrersTag(digest));
      expect(upstreamIndex).toBeDefined();
      expect(await manifestDigest(target, targetRepo('keyless-bundle-tags'), referrersTag(digest))).toBe(upstreamIndex?.digest);
    });

    it.each(GOOD)('verifies the target copy of %s with the same key or identity', async (name) => {
      const copy = parseImageReference(`${s.targetRegistry}/${targetRepo(name)}@${fx[name]!.digest}`);
      await expect(createImageVerifier().verify(ruleOf(name), copy, targetClient())).resolves.toMatchObject({ by: ruleOf(name).by, identity: verifiedAs(name).identity });
    });
  });

  describe('a no-op run over signed images', () => {
    // Every target copy verifies (keyless-bundle-api's bundle listed as one in the target's referrers tag): no source GET.
    it('spends zero manifest GETs on the source and still says they are verified', async () => {
      const mark = watched.log.length;
      const run = await sync(...onlyGood());
      expect(run.code, run.stderr).toBe(0);
      const results = resultsOf(run);
      for (const name of GOOD) expect(results.get(name), name).toMatchObject({ status: 'skipped', digest: fx[name]!.digest, verified: verifiedAs(name) });
      expect(results.get('plain')).toMatchObject({ status: 'skipped' });
      const requests: AccessLogEntry[] = watched.log.slice(mark);
      expect(manifestRequests(requests, ns, 'GET')).toEqual([]);
      expect(manifestRequests(requests, ns, 'HEAD').length).toBeGreaterThan(0);
      expect((JSON.parse(run.stdout) as Report).summary.pulls).toBe(0);
    });

    it('refuses the bad images again', async () => {
      const run = await sync(...Object.keys(BAD).flatMap((name) => ['--only', sourceOf(name)]));
      expect(run.code, run.stderr).toBe(1);
      const results = resultsOf(run);
      expect([...results.keys()].sort()).toEqual(Object.keys(BAD).sort());
      for (const [name, result] of results) expect(result, name).toMatchObject({ status: 'failed', reason: 'unverified' });
    });
  });

  describe('an image re-signed upstream', () => {
    it('gets the new .sig digest, the source seeing only HEADs and the GETs of the new signature', async () => {
      const name = 'key-signed';
      const { digest, repo } = fx[name]!;
      const tag = cosignTag(digest, 'sig');
      const resigned = signLegacyWithKey(digest, sourceOf(name), key);
      expect(resigned.digest).not.toBe(fx[name]!.sig!.digest);
      await pushSignature(s.sourceRegistry, repo, resigned);

      const mark = watched.log.length;
      const run = await sync('--only', sourceOf(name));
      expect(run.code, run.stderr).toBe(0);
      expect(resultsOf(run).get(name)).toMatchObject({ status: 'skipped', digest, verified: verifiedAs(name), artifacts: { copied: 1 } });
      expect(await manifestDigest(target, targetRepo(name), tag)).toBe(resigned.digest);

      const requests = watched.log.slice(mark).filter((r) => r.path.startsWith(`/v2/${repo}/manifests/`));
      const gets = requests.filter((r) => r.method === 'GET').map((r) => r.path);
      expect(gets.length).toBeGreaterThan(0);
      for (const path of gets) expect([`/v2/${repo}/manifests/${tag}`, `/v2/${repo}/manifests/${resigned.digest}`]).toContain(path);
      expect(requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
      fx[name]!.sig = resigned;
    });
  });

  describe('--artifacts none', () => {
    it('copies and verifies the image, and copies none of its signatures', async () => {
      const base = `${prefix}-none`;
      const names = ['key-signed', 'keyless-sig', 'keyless-bundle-tags'];
      const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${base}`, '--credentials', credentials, '--json', '--artifacts', 'none', ...names.flatMap((name) => ['--only', sourceOf(name)])], { CRANE: s.crane });
      expect(run.code, run.stderr).toBe(0);
      const results = resultsOf(run);
      for (const name of names) {
        const { digest, bundle } = fx[name]!;
        expect(results.get(name), name).toMatchObject({ status: 'copied', digest, verified: verifiedAs(name) });
        expect(results.get(name)?.artifacts, name).toBeUndefined();
        expect(await manifestDigest(target, targetRepo(name, base), '1'), name).toBe(digest);
        expect(await manifestDigest(target, targetRepo(name, base), cosignTag(digest, 'sig')), name).toBeUndefined();
        expect(await manifestDigest(target, targetRepo(name, base), referrersTag(digest)), name).toBeUndefined();
        if (bundle !== undefined) expect(await manifestDigest(target, targetRepo(name, base), bundle.digest), name).toBeUndefined();
      }
    });
  });
});
