import type { ImageReference } from '../../shared/image-ref/reference.ts';
import { formatReference } from '../../shared/image-ref/reference.ts';
import type { CopyRequest, ImageCopier, Manifest, ManifestHead, ManifestRegistry } from '../../shared/ports.ts';

/** A registry held in memory: reference → digest (and manifest, where one was stored); for the error paths real registries cannot be made to take. */
export class FakeManifestRegistry implements ManifestRegistry {
  readonly digests = new Map<string, string>();
  readonly manifests = new Map<string, Manifest>();
  readonly calls: string[] = [];
  /** Thrown by every HEAD on this registry host, when set. */
  failHeadsOn?: { registry: string; error: Error };

  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    this.calls.push(`HEAD ${formatReference(ref)}`);
    if (this.failHeadsOn?.registry === ref.registry) throw this.failHeadsOn.error;
    const digest = this.digests.get(formatReference(ref));
    return digest === undefined ? undefined : { digest };
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    this.calls.push(`GET ${formatReference(ref)}`);
    return this.manifests.get(formatReference(ref));
  }

  /** Stores the manifest under the tag, with a digest made of its length so that tests can predict it. */
  async putManifest(ref: ImageReference, body: string, mediaType: string): Promise<string> {
    this.calls.push(`PUT ${formatReference(ref)}`);
    const digest = `sha256:${String(body.length).padStart(64, '0')}`;
    this.digests.set(formatReference(ref), digest);
    this.manifests.set(formatReference(ref), { digest, mediaType, body, json: JSON.parse(body) });
    return digest;
  }
}

/** A copier that records requests and, unless told to do nothing, makes the target hold the source digest. */
export class FakeCopier implements ImageCopier {
  readonly requests: CopyRequest[] = [];

  constructor(private readonly onCopy: (request: CopyRequest) => void = () => undefined) {}

  async copy(request: CopyRequest): Promise<void> {
    this.requests.push(request);
    this.onCopy(request);
  }
}
