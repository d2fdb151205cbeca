// Two images with signatures on a FakeManifestRegistry, for the tests that price or read them: one on a registry that
// serves the OCI referrers API, one on a registry that lists referrers in a `sha256-<hex>` tag's index instead.
import { OCI_INDEX } from '../../shared/oci/manifest.ts';
import type { ReferrerDescriptor } from '../../shared/ports.ts';
import { FakeManifestRegistry } from './registry.ts';

/** A digest made of one repeated number: `D(1)` is `sha256:111…`. */
export const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
/** The hex part of `D(n)`, as cosign's and the referrers tag scheme's tags spell it. */
export const HEX = (n: number) => D(n).slice('sha256:'.length);
export const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
export const SPDX = 'application/spdx+json';

/** A referrer `D(n)` of the given artifact type. */
export const referrer = (n: number, artifactType: string): ReferrerDescriptor => ({ mediaType: IMAGE, digest: D(n), size: 1, artifactType });

/**
 * `ghcr.io/acme/app:1` (a single image, D(1)) on a registry serving the referrers API, signed with cosign's `.sig` tag
 * (D(5)) and carrying `app` as referrers; `docker.io/library/redis:7` (D(2)) on a registry that does not serve it, whose
 * referrers tag (its index `redis.index`) lists `redis.referrers`.
 */
export function signedRegistry(app: readonly ReferrerDescriptor[], redis: { readonly index: string; readonly referrers: readonly ReferrerDescriptor[] }): FakeManifestRegistry {
  const registry = new FakeManifestRegistry();
  registry.servesReferrers.add('ghcr.io');
  registry.digests.set('ghcr.io/acme/app:1', D(1));
  registry.mediaTypes.set('ghcr.io/acme/app:1', IMAGE);
  registry.digests.set(`ghcr.io/acme/app:sha256-${HEX(1)}.sig`, D(5));
  registry.referrers.set(`ghcr.io/acme/app@${D(1)}`, [...app]);

  registry.digests.set('docker.io/library/redis:7', D(2));
  registry.mediaTypes.set('docker.io/library/redis:7', IMAGE);
  registry.digests.set(`docker.io/library/redis:sha256-${HEX(2)}`, redis.index);
  const json = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...redis.referrers] };
  registry.manifests.set(`docker.io/library/redis:sha256-${HEX(2)}`, { digest: redis.index, mediaType: OCI_INDEX, body: JSON.stringify(json), json });
  return registry;
}
