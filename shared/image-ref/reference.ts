import { InvalidImageReferenceError } from '../errors.ts';
import { safeText } from '../safe-text.ts';

/** A fully qualified image reference: registry host, repository path, and a tag, a digest, or both. */
export interface ImageReference {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);
const MAX_NAME_LENGTH = 255;

const HOST_PART = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const REGISTRY_RE = new RegExp(`^${HOST_PART}(?:\\.${HOST_PART})*(?::[0-9]{1,5})?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses and normalises an image reference the way Docker does (`postgres` → `docker.io/library/postgres:latest`).
 * Throws InvalidImageReferenceError naming the problem.
 */
export function parseImageReference(text: string): ImageReference {
  const fail = (problem: string): never => {
    throw new InvalidImageReferenceError(`invalid image reference "${safeText(text)}": ${problem}`);
  };
  if (text.length === 0) fail('it is empty');
  if (text.length > 1024) fail('it is longer than 1024 characters');
  if (/[\s\u0000-\u001f\u007f]/.test(text)) fail('it contains whitespace or control characters');
  if (text.startsWith('-')) fail('it starts with "-"');

  const at = text.indexOf('@');
  let name = text;
  let digest: string | undefined;
  if (at !== -1) {
    name = text.slice(0, at);
    digest = text.slice(at + 1);
    if (digest.includes('@')) fail('it contains more than one "@"');
    if (!DIGEST_RE.test(digest)) {
      fail(/^sha256:/i.test(digest) ? `digest "${digest}" is not sha256 followed by 64 lowercase hex digits` : `digest "${digest}" is not a sha256 digest`);
    }
  }

  let tag: string | undefined;
  const lastColon = name.lastIndexOf(':');
  if (lastColon > name.lastIndexOf('/')) {
    tag = name.slice(lastColon + 1);
    name = name.slice(0, lastColon);
    if (!TAG_RE.test(tag)) {
      fail(tag.length > 128 ? 'tag is longer than 128 characters' : `tag "${tag}" may only hold letters, digits, "_", "." and "-" and must not start with "." or "-"`);
    }
  }
  if (name.length === 0) fail('repository name is empty');

  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // Docker takes `localhost/app` from the local registry, crane from Docker Hub: either reading would be a guess.
  if (first.toLowerCase() === 'localhost') fail(`crane reads "localhost/…" as a Docker Hub path (docker.io/localhost/…), Docker as the registry "localhost": give its port (localhost:PORT/…)`);
  const hasRegistry = slash !== -1 && namesRegistryHost(first);
  let registry = hasRegistry ? first.toLowerCase() : DOCKER_HUB;
  let repository = hasRegistry ? name.slice(slash + 1) : name;

  if (!REGISTRY_RE.test(registry)) fail(`registry host "${registry}" is not a valid host name with an optional port`);
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  if (repository.length === 0) fail('repository name is empty');
  if (repository !== repository.toLowerCase()) fail(`repository "${repository}" must be lowercase`);
  for (const component of repository.split('/')) {
    if (component.length === 0) fail(`repository "${repository}" has an empty path component`);
    if (!PATH_COMPONENT_RE.test(component)) {
      fail(`repository path component "${component}" may only hold a-z, 0-9 and single separators ".", "_", "__" or "-" between them`);
    }
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) fail(`name is longer than ${MAX_NAME_LENGTH} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  return freezeReference({ registry, repository, tag, digest });
}

/**
 * True when crane reads `component`, the first part of an image name, as a registry host: when it holds a "." or a
 * ":" (go-containerregistry v0.14.0, `name.NewRepository` in pkg/name/repository.go, the crane we ship). Any other first
 * part is a path on Docker Hub: crane reads `myregistry/app` as `index.docker.io/myregistry/app`, and `localhost/app`
 * too (later releases take `localhost` as a host; v0.14 does not).
 */
export function namesRegistryHost(component: string): boolean {
  return /[.:]/.test(component);
}

/**
 * Normalises a registry host as written by a user (`index.docker.io`, `https://index.docker.io/v1/`) to the form
 * references use. Throws InvalidImageReferenceError for a name that is no host, or one crane would read as a Docker Hub
 * path (namesRegistryHost): `myregistry` is not taken to mean Docker Hub, nor a host of that name.
 */
export function normaliseRegistryHost(host: string): string {
  const bare = host.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  // One DNS label, `myregistry` or `localhost`: a host to the user, a Docker Hub path to crane.
  if (/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i.test(bare) && !namesRegistryHost(bare)) {
    throw new InvalidImageReferenceError(
      `"${safeText(host)}" is not a registry host: crane reads a name with no "." and no port as a path on Docker Hub (docker.io/${safeText(bare, 100)}/…); give the host with its domain or port, or docker.io for Docker Hub`,
    );
  }
  try {
    return parseImageReference(`${bare}/x`).registry;
  } catch (error) {
    throw new InvalidImageReferenceError(`"${safeText(host)}" is not a registry host with an optional port`, { cause: error });
  }
}

/** Formats a reference as `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** Returns `registry/repository`, the reference without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Returns the same image addressed by digest only. */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return freezeReference({ registry: ref.registry, repository: ref.repository, digest });
}

function freezeReference(ref: { registry: string; repository: string; tag?: string | undefined; digest?: string | undefined }): ImageReference {
  const out: { registry: string; repository: string; tag?: string; digest?: string } = { registry: ref.registry, repository: ref.repository };
  if (ref.tag !== undefined) out.tag = ref.tag;
  if (ref.digest !== undefined) out.digest = ref.digest;
  return Object.freeze(out);
}

