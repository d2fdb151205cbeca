import * as z from 'zod/mini';

/** The media type of an OCI image index. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Every manifest type we mirror: OCI and Docker, single images and indexes. */
export const MANIFEST_MEDIA_TYPES = [
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/**
 * True for the media type of a single image's manifest (OCI, or Docker's v2), as a HEAD's Content-Type tells it: such
 * a copy is one manifest GET. Anything else (an index, `application/json`, nothing) may be an index.
 */
export function isImageManifestMediaType(mediaType: string | undefined): boolean {
  const bare = mediaType?.split(';', 1)[0]?.trim().toLowerCase();
  return bare === 'application/vnd.oci.image.manifest.v1+json' || bare === 'application/vnd.docker.distribution.manifest.v2+json';
}

/** One entry of an index: a child manifest by digest, with its platform. */
export interface ManifestDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The fields of image manifests and indexes that mirroring reads. */
export interface ManifestJson {
  readonly mediaType?: string;
  readonly manifests?: readonly ManifestDescriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

// The digest grammar of the OCI image spec (descriptor.md, "Digests"), with the lengths of its two registered
// algorithms: a digest a registry sends ends up in a crane argument, so it is held to this before anything uses it.
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|(?!sha256:|sha512:)[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;

/** True for a digest as the OCI image spec writes one (`sha256:` and 64 lowercase hex digits, say). */
export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

const annotations = z.exactOptional(z.record(z.string(), z.string()));

// Loose objects: the fields read are checked, the rest (config, layers, subject…) pass through untouched.
const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: z.string().check(z.regex(DIGEST, 'not a digest')),
  size: z.int().check(z.gte(0)),
  platform: z.exactOptional(z.looseObject({ os: z.string(), architecture: z.string(), variant: z.exactOptional(z.string()) })),
  annotations,
});

const manifestSchema = z.looseObject({
  mediaType: z.exactOptional(z.string()),
  manifests: z.exactOptional(z.array(descriptorSchema)),
  annotations,
});

const sizedSchema = z.object({ size: z.int().check(z.gte(0)) });
const imageSizesSchema = z.looseObject({ config: sizedSchema, layers: z.array(sizedSchema) });

/** The bytes an image manifest's config and layers add up to; undefined for an index, or a manifest that does not say. */
export function imageBytes(json: ManifestJson): number | undefined {
  const parsed = imageSizesSchema.safeParse(json);
  return parsed.success ? parsed.data.layers.reduce((sum, layer) => sum + layer.size, parsed.data.config.size) : undefined;
}

/** Parses a manifest or index body, checking the fields mirroring reads; throws an Error saying which field is wrong. */
export function parseManifestJson(body: string): ManifestJson {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    throw new Error('the manifest is not JSON');
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the manifest';
    throw new Error(`the manifest is malformed: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  // The input itself, now known to fit: its keys keep their order, so a body made from it is the one the registry meant.
  return data as ManifestJson;
}
