/** The media type of an OCI image index. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Every manifest type we mirror: OCI and Docker, single images and indexes. */
export const MANIFEST_MEDIA_TYPES = [
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

/** The fields of image manifests and indexes that mirroring reads. */
export interface ManifestJson {
  readonly mediaType?: string;
  readonly manifests?: readonly ManifestDescriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One entry of an index: a child manifest by digest, with its platform. */
export interface ManifestDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}
