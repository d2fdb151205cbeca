import { describeError } from '../errors.ts';
import { formatReference, type ImageReference } from '../image-ref/reference.ts';
import type { ManifestRegistry, PinDrift } from '../ports.ts';

export type { PinDrift };

/** What one drift check found: the drift when there is one, and the manifest GETs it had to spend (a registry without HEAD). */
export interface PinDriftCheck {
  readonly drift?: PinDrift;
  readonly pullsSpent: number;
  /** Why the tag could not be looked up; the check is a notice, so this fails nothing. */
  readonly error?: string;
}

/** The tag alone of a reference that has both a tag and a digest; undefined for any other. */
export function pinnedTag(source: ImageReference): ImageReference | undefined {
  if (source.tag === undefined || source.digest === undefined) return undefined;
  return { registry: source.registry, repository: source.repository, tag: source.tag };
}

/**
 * Looks the tag of a digest-pinned reference up with one HEAD (free on Docker Hub) and says whether it still names the
 * pinned digest. A reference that is not pinned with a tag costs nothing and finds nothing.
 */
export async function checkPinDrift(registry: Pick<ManifestRegistry, 'headManifest'>, source: ImageReference): Promise<PinDriftCheck> {
  const tag = pinnedTag(source);
  if (tag === undefined || source.digest === undefined) return { pullsSpent: 0 };
  try {
    const head = await registry.headManifest(tag);
    const pullsSpent = head?.pullsSpent ?? 0;
    const current = head?.digest ?? null;
    if (current === source.digest) return { pullsSpent };
    return { drift: { tag: formatReference(tag), pinned: source.digest, current }, pullsSpent };
  } catch (error) {
    return { pullsSpent: 0, error: `looking up tag "${formatReference(tag)}" of the pin: ${describeError(error)}` };
  }
}

/** `tag docker.io/library/postgres:14 now names sha256:def…, not the pinned sha256:abc… (the pin is what is mirrored)`. */
export function describePinDrift(drift: PinDrift): string {
  const now = drift.current === null ? 'no longer exists upstream' : `now names ${drift.current}`;
  return `tag ${drift.tag} ${now}, not the pinned ${drift.pinned} (the pin is what is mirrored; update the pin to take the new image)`;
}
