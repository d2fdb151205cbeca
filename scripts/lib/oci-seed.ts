import { createHash, randomBytes } from 'node:crypto';

/** Builds synthetic images straight through the registry API, for tests, the demo and the benchmark. */

export type ManifestFormat = 'oci' | 'docker';

/** A pushed manifest or blob, as an index or manifest refers to it. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { architecture: string; os: string; variant?: string };
}

export interface SeedTarget {
  /** `host:port` of the registry, spoken to over plain HTTP. */
  readonly registry: string;
  /** Basic credentials, for a registry that wants them. */
  readonly auth?: { username: string; password: string };
}

const MEDIA = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function headers(target: SeedTarget, extra: Record<string, string> = {}): Record<string, string> {
  if (!target.auth) return extra;
  return { ...extra, authorization: `Basic ${Buffer.from(`${target.auth.username}:${target.auth.password}`).toString('base64')}` };
}

/** Uploads a blob (monolithic upload) unless the registry has it already. */
export async function pushBlob(target: SeedTarget, repository: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const base = `http://${target.registry}/v2/${repository}/blobs`;
  const head = await fetch(`${base}/${digest}`, { method: 'HEAD', headers: headers(target) });
  if (head.ok) return { digest, size: data.length };
  const start = await fetch(`${base}/uploads/`, { method: 'POST', headers: headers(target) });
  if (start.status !== 202) throw new Error(`starting a blob upload to ${repository}: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location') ?? '', `http://${target.registry}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: headers(target, { 'content-type': 'application/octet-stream' }), body: data });
  if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${repository}: ${put.status} ${await put.text()}`);
  return { digest, size: data.length };
}

/** Puts a manifest under a tag or digest and returns its descriptor. */
export async function pushManifest(target: SeedTarget, repository: string, reference: string, manifest: object, mediaType: string): Promise<Descriptor> {
  const body = JSON.stringify(manifest);
  const response = await fetch(`http://${target.registry}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: headers(target, { 'content-type': mediaType }),
    body,
  });
  if (response.status !== 201) throw new Error(`pushing manifest ${repository}:${reference}: ${response.status} ${await response.text()}`);
  return { mediaType, digest: sha256(body), size: Buffer.byteLength(body) };
}

export interface ImageSpec {
  readonly platform?: string;
  readonly layers?: number;
  readonly layerBytes?: number;
  readonly format?: ManifestFormat;
}

/** Pushes a single-platform image of random layers; tagged when `tag` is given, else by digest only. */
export async function pushImage(target: SeedTarget, repository: string, tag: string | undefined, spec: ImageSpec = {}): Promise<Descriptor> {
  const format = spec.format ?? 'oci';
  const [os = 'linux', architecture = 'amd64', variant] = (spec.platform ?? 'linux/amd64').split('/');
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < (spec.layers ?? 1); i += 1) {
    const data = randomBytes(spec.layerBytes ?? 1024);
    const blob = await pushBlob(target, repository, data);
    layers.push({ mediaType: MEDIA[format].layer, ...blob });
    diffIds.push(blob.digest);
  }
  const config = Buffer.from(JSON.stringify({ architecture, os, ...(variant ? { variant } : {}), rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const configBlob = await pushBlob(target, repository, config);
  const manifest = { schemaVersion: 2, mediaType: MEDIA[format].manifest, config: { mediaType: MEDIA[format].config, ...configBlob }, layers };
  const body = JSON.stringify(manifest);
  const descriptor = await pushManifest(target, repository, tag ?? sha256(body), manifest, MEDIA[format].manifest);
  return { ...descriptor, platform: { architecture, os, ...(variant ? { variant } : {}) } };
}

/** Pushes one image per platform and an index over them under `tag`. */
export async function pushIndex(target: SeedTarget, repository: string, tag: string, platforms: readonly string[], spec: Omit<ImageSpec, 'platform'> = {}): Promise<{ index: Descriptor; children: Descriptor[] }> {
  const format = spec.format ?? 'oci';
  const children: Descriptor[] = [];
  for (const platform of platforms) children.push(await pushImage(target, repository, undefined, { ...spec, platform }));
  const manifest = { schemaVersion: 2, mediaType: MEDIA[format].index, manifests: children };
  const index = await pushManifest(target, repository, tag, manifest, MEDIA[format].index);
  return { index, children };
}

/** HEADs a manifest and returns its digest, or undefined when absent. */
export async function manifestDigest(target: SeedTarget, repository: string, reference: string): Promise<string | undefined> {
  const response = await fetch(`http://${target.registry}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: headers(target, { accept: [...Object.values(MEDIA).flatMap((m) => [m.manifest, m.index])].join(', ') }),
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`HEAD ${repository}:${reference}: ${response.status}`);
  return response.headers.get('docker-content-digest') ?? undefined;
}
