import { describe, expect, it } from 'vitest';
import { parseManifestJson } from '../../../shared/oci/manifest.ts';

const D = `sha256:${'a'.repeat(64)}`;
const child = (extra: Record<string, unknown> = {}) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D, size: 512, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, ...extra });

describe('parseManifestJson', () => {
  it('reads an index, keeping the fields it does not check', () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child()], annotations: { a: 'b' }, subject: { x: 1 } });
    expect(parseManifestJson(body)).toEqual(JSON.parse(body));
  });

  it('keeps the registry\'s key order, so that a body written from it holds the same bytes', () => {
    const body = JSON.stringify({ manifests: [{ size: 512, digest: D, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { architecture: 'amd64', os: 'linux' } }], schemaVersion: 2 });
    expect(JSON.stringify(parseManifestJson(body))).toBe(body);
  });

  it('reads a single image manifest, which has no manifests list', () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { digest: D }, layers: [] });
    expect(parseManifestJson(body).manifests).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"manifests": [', 'the manifest is not JSON'],
    ['a manifests field that is no list', JSON.stringify({ manifests: {} }), 'the manifest is malformed: manifests:'],
    ['a child digest that is a path', JSON.stringify({ manifests: [child({ digest: '../../v2/other/manifests/x' })] }), 'the manifest is malformed: manifests.0.digest: not a digest'],
    ['a sha256 digest of the wrong length', JSON.stringify({ manifests: [child({ digest: 'sha256:abc' })] }), 'manifests.0.digest: not a digest'],
    ['a sha256 digest in upper case', JSON.stringify({ manifests: [child({ digest: `sha256:${'A'.repeat(64)}` })] }), 'manifests.0.digest: not a digest'],
    ['a child digest with a space', JSON.stringify({ manifests: [child({ digest: `sha256:${'a'.repeat(63)} ` })] }), 'manifests.0.digest: not a digest'],
    ['a negative size', JSON.stringify({ manifests: [child({ size: -1 })] }), 'manifests.0.size:'],
    ['a platform without architecture', JSON.stringify({ manifests: [child({ platform: { os: 'linux' } })] }), 'manifests.0.platform.architecture:'],
    ['annotations that are not strings', JSON.stringify({ annotations: { a: 1 } }), 'annotations.a:'],
    ['a JSON value that is no object', '"sha256:x"', 'the manifest is malformed: the manifest:'],
  ])('refuses %s', (_, body, message) => {
    expect(() => parseManifestJson(body)).toThrow(message);
  });
});
