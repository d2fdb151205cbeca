import { createHash } from 'node:crypto';
import type { ImageReference } from '../../shared/image-ref/reference.ts';
import { formatReference } from '../../shared/image-ref/reference.ts';
import type { CopyRequest, ImageCopier, Manifest, ManifestHead, ManifestRegistry, PullBudgetSeen, ReferrerDescriptor } from '../../shared/ports.ts';

/** A registry held in memory: reference → digest (and manifest, where one was stored); for the error paths real registries cannot be made to take. */
export class FakeManifestRegistry implements ManifestRegistry {
  readonly digests = new Map<string, string>();
  readonly manifests = new Map<string, Manifest>();
  readonly calls: string[] = [];
  /** The Content-Type a HEAD answers, by reference; none where unset. */
  readonly mediaTypes = new Map<string, string>();
  /** The pull budget a registry host tells on every HEAD, where set; each GET on that host spends one of it, as on Docker Hub. */
  readonly budgets = new Map<string, PullBudgetSeen>();
  /** Thrown by every HEAD on this registry host, when set. */
  failHeadsOn?: { registry: string; error: Error };
  /** Registry hosts that serve the OCI 1.1 referrers API; the others answer it with 404 (listReferrers: undefined). */
  readonly servesReferrers = new Set<string>();
  /** Referrers by `repository@digest` (formatReference), on a host that serves the API; none where unset. */
  readonly referrers = new Map<string, ReferrerDescriptor[]>();
  /** Blobs by `registry/repository@digest`. */
  readonly blobs = new Map<string, Uint8Array>();

  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    this.calls.push(`HEAD ${formatReference(ref)}`);
    if (this.failHeadsOn?.registry === ref.registry) throw this.failHeadsOn.error;
    const digest = this.digests.get(formatReference(ref));
    if (digest === undefined) return undefined;
    const mediaType = this.mediaTypes.get(formatReference(ref));
    const budget = this.budgets.get(ref.registry);
    return { digest, ...(mediaType === undefined ? {} : { mediaType }), ...(budget === undefined ? {} : { budget }) };
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    this.calls.push(`GET ${formatReference(ref)}`);
    const budget = this.budgets.get(ref.registry);
    if (budget !== undefined) this.budgets.set(ref.registry, { ...budget, remaining: Math.max(0, budget.remaining - 1) });
    return this.manifests.get(formatReference(ref));
  }

  async listReferrers(ref: ImageReference): Promise<ReferrerDescriptor[] | undefined> {
    this.calls.push(`REFERRERS ${formatReference(ref)}`);
    if (!this.servesReferrers.has(ref.registry)) return undefined;
    return [...(this.referrers.get(formatReference(ref)) ?? [])];
  }

  async getBlob(ref: ImageReference, digest: string, maxBytes: number): Promise<Uint8Array> {
    const where = `${ref.registry}/${ref.repository}@${digest}`;
    this.calls.push(`BLOB ${where}`);
    const blob = this.blobs.get(where);
    if (blob === undefined) throw new Error(`reading blob ${where}: no such blob (404)`);
    if (blob.length > maxBytes) throw new Error(`reading blob ${where}: larger than ${maxBytes} bytes`);
    return blob;
  }

  /**
   * Stores the manifest under the tag. Text gets a digest made of its length, so that tests can predict it; bytes, to
   * be written as they are, get their real sha256, as a registry gives them.
   */
  async putManifest(ref: ImageReference, body: string | Uint8Array, mediaType: string): Promise<string> {
    this.calls.push(`PUT ${formatReference(ref)}`);
    const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
    const digest = typeof body === 'string' ? `sha256:${String(body.length).padStart(64, '0')}` : `sha256:${createHash('sha256').update(body).digest('hex')}`;
    this.digests.set(formatReference(ref), digest);
    this.manifests.set(formatReference(ref), { digest, mediaType, body: text, json: JSON.parse(text) });
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
