import { TargetNameError } from '../errors.ts';
import { type ImageReference, namesRegistryHost } from './reference.ts';
import { safeText } from '../safe-text.ts';

/** Where mirrored images go: a registry host and an optional repository prefix. */
export interface TargetBase {
  readonly registry: string;
  readonly prefix: string;
}

/** Default layout: `<target>/<source registry>/<repository>`. */
export const DEFAULT_NAME_TEMPLATE = '{registry}/{repository}';

const PLACEHOLDER_RE = /\{([^}]*)\}/g;
const KNOWN_PLACEHOLDERS = new Set(['registry', 'repository']);
// ECR's rule for repository names; stricter than Docker's (no "__", no "--").
const ECR_REPOSITORY_RE = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const ECR_REPOSITORY_MAX = 256;
const HOST_RE = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$/;

/** True when a repository path satisfies ECR's naming rules (lowercase components, single separators). */
export function isEcrRepositoryPath(path: string): boolean {
  return ECR_REPOSITORY_RE.test(path);
}

/** Parses `REGISTRY[/PREFIX]`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror`. */
export function parseTargetBase(text: string): TargetBase {
  const trimmed = text.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const registry = (slash === -1 ? trimmed : trimmed.slice(0, slash)).toLowerCase();
  const prefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (!HOST_RE.test(registry)) {
    throw new TargetNameError(`invalid target "${safeText(text)}": "${safeText(registry)}" is not a registry host with an optional port`);
  }
  if (prefix !== '' && !ECR_REPOSITORY_RE.test(prefix)) {
    throw new TargetNameError(`invalid target "${safeText(text)}": prefix "${safeText(prefix)}" must be lowercase path components of a-z, 0-9 and single ".", "_" or "-" separators`);
  }
  // Our lookups would go to https://myregistry while crane pushed to docker.io/myregistry/…: never half of each.
  if (!namesRegistryHost(registry)) {
    throw new TargetNameError(
      `invalid target "${safeText(text)}": crane reads "${safeText(registry)}" with no "." and no port as a path on Docker Hub (docker.io/${safeText(trimmed)}); give the registry with its domain or port (${safeText(registry)}.example.com, ${safeText(registry)}:5000), or docker.io/${safeText(trimmed)} to mean Docker Hub`,
    );
  }
  return Object.freeze({ registry, prefix });
}

/** Checks a `--name-template` once, so that a bad one is a usage error rather than an error per image. */
export function validateNameTemplate(template: string): void {
  const names = [...template.matchAll(PLACEHOLDER_RE)].map((match) => match[1] ?? '');
  const unknown = names.filter((name) => !KNOWN_PLACEHOLDERS.has(name));
  if (unknown.length > 0) {
    throw new TargetNameError(`invalid name template "${safeText(template)}": unknown placeholder ${unknown.map((n) => `{${n}}`).join(', ')} (known: {registry}, {repository})`);
  }
  if (!names.includes('repository')) {
    throw new TargetNameError(`invalid name template "${safeText(template)}": it must contain {repository}`);
  }
}

/** The tag a digest-only source gets in the target, so that lifecycle rules for untagged images never expire it. */
export function digestTag(digest: string): string {
  return digest.replace(':', '-');
}

/** Maps a source reference to its target: `<registry>/<prefix>/<template>:<tag>`, the repository checked against ECR's naming rules. */
export function targetFor(source: ImageReference, base: TargetBase, template: string = DEFAULT_NAME_TEMPLATE): ImageReference {
  const registryPart = source.registry.replace(':', '-');
  const path = template.replace(PLACEHOLDER_RE, (_, name: string) => (name === 'registry' ? registryPart : source.repository));
  const repository = base.prefix === '' ? path : `${base.prefix}/${path}`;
  if (repository.length > ECR_REPOSITORY_MAX) {
    throw new TargetNameError(`target repository "${safeText(repository)}" is longer than ${ECR_REPOSITORY_MAX} characters`);
  }
  if (!ECR_REPOSITORY_RE.test(repository)) {
    throw new TargetNameError(`target repository "${safeText(repository)}" breaks ECR naming rules (lowercase components of a-z, 0-9 and single ".", "_" or "-" separators)`);
  }
  const tag = source.tag ?? digestTag(source.digest ?? '');
  return Object.freeze({ registry: base.registry, repository, tag });
}

/** Account and region of an ECR registry host, or undefined for other hosts. */
export function parseEcrRegistry(registry: string): { accountId: string; region: string } | undefined {
  const match = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(registry);
  return match ? { accountId: match[1] as string, region: match[2] as string } : undefined;
}
