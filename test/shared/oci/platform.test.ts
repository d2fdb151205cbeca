import { describe, expect, it } from 'vitest';
import { isNarrowedCopyOf, narrowIndex, parsePlatform, platformMatches, platformsKey, SOURCE_DIGEST_ANNOTATION } from '../../../shared/oci/platform.ts';

const entry = (platform: string, digest: string) => {
  const [os = '', architecture = '', variant] = platform.split('/');
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1, platform: { os, architecture, ...(variant ? { variant } : {}) } };
};
const index = { manifests: [entry('linux/amd64', 'sha256:a'), entry('linux/arm64', 'sha256:b'), entry('linux/arm/v7', 'sha256:c'), entry('windows/amd64', 'sha256:d')] };

describe('platforms', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
  ])('parses %s', (text, expected) => {
    expect(parsePlatform(text)).toEqual(expected);
  });

  it.each(['linux', 'linux/', 'Linux/amd64', 'linux/amd64/v8/x', 'linux/amd 64', '--x/y'])('refuses %j', (text) => {
    expect(() => parsePlatform(text)).toThrow('expected os/arch or os/arch/variant');
  });

  it('matches variants the way registries label them', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, parsePlatform('linux/arm64/v8'))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm/v7'))).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm'))).toBe(true);
    expect(platformMatches(undefined, parsePlatform('linux/amd64'))).toBe(false);
  });

  it('narrows an index to the asked platforms and records where it came from', () => {
    const platforms = [parsePlatform('linux/arm64'), parsePlatform('linux/amd64')];
    const narrowed = narrowIndex(index, 'sha256:src', platforms);
    expect(narrowed.children.map((c) => c.digest)).toEqual(['sha256:a', 'sha256:b']);
    const body = JSON.parse(narrowed.body);
    expect(body.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(body.annotations[SOURCE_DIGEST_ANNOTATION]).toBe('sha256:src');
    expect(isNarrowedCopyOf(body, 'sha256:src', platforms)).toBe(true);
    expect(isNarrowedCopyOf(body, 'sha256:other', platforms)).toBe(false);
    expect(isNarrowedCopyOf(body, 'sha256:src', [parsePlatform('linux/amd64')])).toBe(false);
  });

  it('says what an index has when it has none of the asked platforms', () => {
    expect(() => narrowIndex(index, 'sha256:src', [parsePlatform('linux/s390x')])).toThrow('the index has none of the platforms linux/s390x (it has linux/amd64, linux/arm64, linux/arm/v7, windows/amd64)');
  });

  it('keys platform lists regardless of order and repeats', () => {
    expect(platformsKey([parsePlatform('linux/arm64'), parsePlatform('linux/amd64'), parsePlatform('linux/arm64')])).toBe('linux/amd64,linux/arm64');
  });
});
