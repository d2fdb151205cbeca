import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../../shared/registry/http-registry.ts';
import { type ScriptedAnswer, type ScriptedRegistry, type SeenRequest, startScriptedRegistry } from '../../support/upstreams/scripted-registry.ts';

// Loopback registries spoken to with the real fetch: the referrers API's answers, good and bad, and blobs behind a redirect.
const servers: ScriptedRegistry[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(script: (request: SeenRequest) => ScriptedAnswer): Promise<ScriptedRegistry> {
  const server = await startScriptedRegistry(script, '127.0.0.1');
  servers.push(server);
  return server;
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SUBJECT = `sha256:${'1'.repeat(64)}`;
const BUNDLE = `sha256:${'8'.repeat(64)}`;
const SBOM = `sha256:${'9'.repeat(64)}`;
const digestOf = (bytes: Uint8Array | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const client = () => new HttpRegistryClient({ credentials: new StaticCredentialProvider(), sleep: async () => {} });
const index = (manifests: object[]): ScriptedAnswer => ({ headers: { 'content-type': OCI_INDEX }, body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }) });
const descriptor = (digest: string, artifactType: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10, artifactType, annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } });

describe('HttpRegistryClient.listReferrers', () => {
  it('lists the referrers the API answers, every page of them', async () => {
    const registry = await serve((request) =>
      request.url.searchParams.get('last') === null
        ? { ...index([descriptor(BUNDLE, 'application/vnd.dev.sigstore.bundle.v0.3+json')]), headers: { 'content-type': OCI_INDEX, link: `</v2/a/b/referrers/${SUBJECT}?last=1>; rel="next"` } }
        : index([descriptor(SBOM, 'application/spdx+json')]),
    );
    const listed = await client().listReferrers(parseImageReference(`${registry.host}/a/b@${SUBJECT}`));
    expect(listed).toEqual([
      { ...descriptor(BUNDLE, 'application/vnd.dev.sigstore.bundle.v0.3+json') },
      { ...descriptor(SBOM, 'application/spdx+json') },
    ]);
    expect(registry.log.map((request) => `${request.method} ${request.url.pathname}${request.url.search}`)).toEqual([`GET /v2/a/b/referrers/${SUBJECT}`, `GET /v2/a/b/referrers/${SUBJECT}?last=1`]);
  });

  it('says undefined for a registry that answers the path with 404: it does not serve the API', async () => {
    const registry = await serve(() => ({ status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found\n' }));
    expect(await client().listReferrers(parseImageReference(`${registry.host}/a/b@${SUBJECT}`))).toBeUndefined();
  });

  // go-containerregistry falls back to the tag scheme on these too (pkg/v1/remote/referrers.go).
  it.each<[string, ScriptedAnswer]>([
    ['400', { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ code: 'UNSUPPORTED' }] }) }],
    ['406', { status: 406, headers: { 'content-type': 'text/plain' }, body: 'not acceptable' }],
    ['a 200 that is not an OCI index', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mediaType: 'application/json', manifests: [] }) }],
  ])('says undefined for %s: the API is not served', async (_, answer) => {
    const registry = await serve(() => answer);
    expect(await client().listReferrers(parseImageReference(`${registry.host}/a/b@${SUBJECT}`))).toBeUndefined();
  });

  it("remembers a registry's `404 page not found` text, and asks no more; a distribution-spec 404 is asked again", async () => {
    const plain = await serve(() => ({ status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found\n' }));
    const spec = await serve(() => ({ status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }) }));
    const shared = client();
    for (const registry of [plain, spec]) {
      expect(await shared.listReferrers(parseImageReference(`${registry.host}/a/b@${SUBJECT}`))).toBeUndefined();
      expect(await shared.listReferrers(parseImageReference(`${registry.host}/c/d@${SUBJECT}`))).toBeUndefined();
    }
    expect(plain.log.map((request) => request.url.pathname)).toEqual([`/v2/a/b/referrers/${SUBJECT}`]);
    expect(spec.log.map((request) => request.url.pathname)).toEqual([`/v2/a/b/referrers/${SUBJECT}`, `/v2/c/d/referrers/${SUBJECT}`]);
  });

  it.each([
    ['an OCI index answer that is not an index', { headers: { 'content-type': OCI_INDEX }, body: JSON.stringify({ mediaType: 'application/json', manifests: [] }) }],
    ['a descriptor whose digest is not one', index([{ ...descriptor(BUNDLE, 'x'), digest: 'sha256:../../etc' }])],
    ['a body that is not JSON', { headers: { 'content-type': OCI_INDEX }, body: '<html>' }],
  ])('refuses %s, naming the image', async (_, answer) => {
    const registry = await serve(() => answer as ScriptedAnswer);
    await expect(client().listReferrers(parseImageReference(`${registry.host}/a/b@${SUBJECT}`))).rejects.toThrow(`the referrers of "${registry.host}/a/b@${SUBJECT}" are not an OCI image index of descriptors`);
  });
});

describe('HttpRegistryClient.getBlob', () => {
  const blob = Buffer.from('{"payload":"signed"}');

  it('reads a blob behind a redirect and checks it against its digest', async () => {
    const backend = await serve(() => ({ headers: { 'content-type': 'application/octet-stream' }, body: blob }));
    const registry = await serve((request) => ({ status: 307, headers: { location: `${backend.origin}/store${request.url.pathname}` }, body: '' }));
    const ref = parseImageReference(`${registry.host}/a/b:1`);
    expect(Buffer.from(await client().getBlob(ref, digestOf(blob), 1024))).toEqual(blob);
  });

  it('refuses bytes of another digest, and a blob larger than asked', async () => {
    const registry = await serve(() => ({ headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.length) }, body: blob }));
    const ref = parseImageReference(`${registry.host}/a/b:1`);
    const other = `sha256:${'2'.repeat(64)}`;
    await expect(client().getBlob(ref, other, 1024)).rejects.toThrow(`the registry sent blob ${other} of "${registry.host}/a/b" whose digest is ${digestOf(blob)}`);
    await expect(client().getBlob(ref, digestOf(blob), 4)).rejects.toThrow(`blob ${digestOf(blob)} of "${registry.host}/a/b" is larger than 4 bytes`);
  });
});
