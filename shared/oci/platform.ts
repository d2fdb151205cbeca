import { InvalidImageReferenceError, PlatformNotFoundError } from '../errors.ts';
import { type ManifestDescriptor, type ManifestJson, OCI_INDEX } from './manifest.ts';

/** An image platform: `linux/amd64`, `linux/arm/v7`. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Annotations a narrowed index carries, so that a rerun can tell it is up to date with HEAD requests only on the source. */
export const SOURCE_DIGEST_ANNOTATION = 'io.github.image-mirror.source.digest';
const PLATFORMS_ANNOTATION = 'io.github.image-mirror.platforms';

/** Parses `os/arch[/variant]`. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9][a-z0-9._-]*$/.test(part))) {
    throw new InvalidImageReferenceError(`invalid platform "${text}": expected os/arch or os/arch/variant in lowercase, e.g. linux/amd64 or linux/arm/v7`);
  }
  const [os = '', architecture = '', variant] = parts;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** True when an index entry's platform is the one asked for; no variant asked matches any variant. */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate || candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  // arm64 images usually leave out their (only) variant v8.
  const variant = candidate.variant ?? (candidate.architecture === 'arm64' ? 'v8' : undefined);
  return variant === wanted.variant;
}

/** The canonical form of a platform list, as stored in the narrowed index. */
export function platformsKey(platforms: readonly Platform[]): string {
  return [...new Set(platforms.map(formatPlatform))].sort().join(',');
}

/**
 * An OCI index holding only the asked platforms of `source`, annotated with the source index's digest.
 * Throws when the source has none of them, naming what it has.
 */
export function narrowIndex(source: ManifestJson, sourceDigest: string, platforms: readonly Platform[]): { body: string; children: ManifestDescriptor[] } {
  const all = source.manifests ?? [];
  const children = all.filter((entry) => platforms.some((wanted) => platformMatches(entry.platform, wanted)));
  if (children.length === 0) {
    const available = all.map((entry) => (entry.platform ? formatPlatform(entry.platform) : 'unknown')).join(', ');
    throw new PlatformNotFoundError(`the index has none of the platforms ${platformsKey(platforms)} (it has ${available || 'no entries'})`);
  }
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children,
    annotations: { [SOURCE_DIGEST_ANNOTATION]: sourceDigest, [PLATFORMS_ANNOTATION]: platformsKey(platforms) },
  });
  return { body, children };
}

/** True when a target index is the narrowed copy of this source digest for these platforms. */
export function isNarrowedCopyOf(target: ManifestJson, sourceDigest: string, platforms: readonly Platform[]): boolean {
  return target.annotations?.[SOURCE_DIGEST_ANNOTATION] === sourceDigest && target.annotations?.[PLATFORMS_ANNOTATION] === platformsKey(platforms);
}
