// Pushes blobs and manifests to a registry over the OCI distribution API, for tests that need exact bytes in a
// registry (signatures, referrers) that crane cannot write: a monolithic blob upload (POST, then PUT with the digest)
// and a manifest PUT, as https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-blobs describes.
import { createHash } from 'node:crypto';

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Uploads a blob to `<registry>/<repository>` (a `host:port` without scheme; plain HTTP) and returns its descriptor. */
export async function pushBlob(registry: string, repository: string, bytes: Uint8Array | string, mediaType = 'application/octet-stream'): Promise<{ mediaType: string; digest: string; size: number }> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
  const digest = sha256Digest(data);
  const start = await fetch(`http://${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`starting a blob upload to ${registry}/${repository}: HTTP ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location') ?? '', `http://${registry}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data });
  if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${registry}/${repository}: HTTP ${put.status} ${await put.text()}`);
  return { mediaType, digest, size: data.length };
}

/** Stores a manifest under `reference` (a tag or its digest) and returns its digest and the answer's headers. */
export async function pushManifest(registry: string, repository: string, reference: string, manifest: object | string, mediaType: string): Promise<{ digest: string; size: number; headers: Headers }> {
  const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  const put = await fetch(`http://${registry}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body });
  if (put.status !== 201) throw new Error(`pushing manifest ${repository}:${reference} to ${registry}: HTTP ${put.status} ${await put.text()}`);
  return { digest: sha256Digest(body), size: Buffer.byteLength(body), headers: put.headers };
}

/** A manifest's bytes and digest as a registry serves them, or undefined for a 404. */
export async function fetchManifest(registry: string, repository: string, reference: string): Promise<{ digest: string; body: string; mediaType: string } | undefined> {
  const accept = ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
  const answer = await fetch(`http://${registry}/v2/${repository}/manifests/${reference}`, { headers: { accept } });
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw new Error(`reading manifest ${repository}:${reference} from ${registry}: HTTP ${answer.status}`);
  const body = await answer.text();
  return { digest: sha256Digest(body), body, mediaType: answer.headers.get('content-type') ?? '' };
}
