import type { ImageReference } from '../../shared/image-ref/reference.ts';
import { formatReference } from '../../shared/image-ref/reference.ts';
import type { CopyRequest, ImageCopier, Manifest, ManifestHead, ManifestRegistry } from '../../shared/ports.ts';

/** A registry held in memory: reference → digest; for the error paths real registries cannot be made to take. */
export class FakeManifestRegistry implements ManifestRegistry {
  readonly digests = new Map<string, string>();
  readonly calls: string[] = [];

  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    this.calls.push(`HEAD ${formatReference(ref)}`);
    const digest = this.digests.get(formatReference(ref));
    return digest === undefined ? undefined : { digest };
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    this.calls.push(`GET ${formatReference(ref)}`);
    return undefined;
  }

  async putManifest(ref: ImageReference): Promise<string> {
    this.calls.push(`PUT ${formatReference(ref)}`);
    return 'sha256:put';
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
