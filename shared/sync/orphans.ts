import { type ImageReference, parseImageReference, repositoryName } from '../image-ref/reference.ts';
import { DEFAULT_NAME_TEMPLATE, type TargetBase, targetFor } from '../image-ref/target.ts';
import { isDirectoryEntry, type Plan } from '../plan/plan.ts';
import type { FileIssue, ManagedRepository, RepositoryStore } from '../ports.ts';

/** The configuration a plan was built with: what it mirrors into, and so which repositories are its own. */
export interface OrphanScope {
  readonly target: TargetBase;
  readonly nameTemplate?: string;
  /** The source registries the plan mirrors from, as normaliseRegistryHost spells them; empty or absent: all. */
  readonly allowRegistries?: readonly string[];
}

/** Repositories of one source registry the allow-list leaves out. */
export interface NotAllowedCount {
  readonly registry: string;
  readonly repositories: number;
}

/** What an orphan check found under a target prefix. Nothing is ever deleted. */
export interface OrphanReport {
  /**
   * Repositories of this configuration that no Dockerfile names any more, by name: tagged managed-by=image-mirror,
   * and named as this target and name template name the source of their `source` tag.
   */
  readonly orphans: readonly ManagedRepository[];
  /** Repositories under the prefix, managed or not. */
  readonly checked: number;
  /**
   * Repositories no valid Dockerfile names, kept out of `orphans` because an invalid file (or a directory that could
   * not be read) sits where their source's Dockerfile would: `<registry>/<repository>/Dockerfile`.
   */
  readonly spared: readonly ManagedRepository[];
  /** The plan's invalid files: one kept anywhere but in its image's directory may leave its repository among `orphans`. */
  readonly invalid: number;
  /**
   * Managed repositories under the prefix whose name is not the one this configuration gives their source: another
   * deployment's (a longer prefix such as `<prefix>/team/…`, another name template). Never orphans, only counted.
   */
  readonly foreign: number;
  /** Managed repositories without a `source` tag that reads as an image: whose they are cannot be told, so never orphans. */
  readonly unattributed: readonly ManagedRepository[];
  /**
   * Repositories of this configuration whose source is of a registry its allow-list leaves out, counted by registry:
   * the plan plans no file's image of that registry, so it cannot tell whether one is still named. Never orphans.
   */
  readonly notAllowed: readonly NotAllowedCount[];
}

/**
 * The repositories under the target prefix tagged managed-by=image-mirror that no job of the plan (built with the
 * scope's target and name template) mirrors into: left behind when their Dockerfile was removed or renamed. The tag
 * says only that some deployment of the mirror made a repository, not which: one is this configuration's only when
 * its name is the one the scope gives the source its `source` tag names. Others are `foreign` (or `unattributed`
 * without a readable source), never orphans. A repository whose source's directory holds an invalid Dockerfile is
 * spared: the file is being fixed, not removed. One whose source is of a registry the scope's allow-list leaves out is
 * `notAllowed`: the plan left its files out, so their images are not the plan's to miss. Only repositories the plan
 * does not name have their tags read.
 */
export async function findOrphans(plan: Plan, store: Pick<RepositoryStore, 'listManaged'>, scope: OrphanScope): Promise<OrphanReport> {
  const named = new Set(plan.jobs.flatMap((job) => (job.target === undefined ? [] : [job.target.repository])));
  const listing = await store.listManaged(scope.target.prefix, named);
  const invalid = plan.errors.map(invalidPlace);
  const orphans: ManagedRepository[] = [];
  const spared: ManagedRepository[] = [];
  const unattributed: ManagedRepository[] = [];
  const allowed = new Set(scope.allowRegistries ?? []);
  const notAllowed = new Map<string, number>();
  let foreign = 0;
  for (const repository of listing.repositories) {
    const ours = ownName(repository.source, scope);
    if (ours === undefined) unattributed.push(repository);
    else if (ours.name !== repository.name) foreign += 1;
    else if (allowed.size > 0 && !allowed.has(ours.registry)) notAllowed.set(ours.registry, (notAllowed.get(ours.registry) ?? 0) + 1);
    else (invalid.some((place) => place.holds(ours.source)) ? spared : orphans).push(repository);
  }
  return {
    orphans,
    checked: listing.total,
    spared,
    invalid: new Set(plan.errors.map((issue) => issue.file)).size,
    foreign,
    unattributed,
    notAllowed: [...notAllowed].sort(([a], [b]) => a.localeCompare(b)).map(([registry, repositories]) => ({ registry, repositories })),
  };
}

/**
 * The repository this configuration mirrors a `source` tag into, with the source as the plan spells it, or undefined
 * when the tag is missing or reads as no image. A name this configuration could not give at all (too long, against
 * ECR's rules) is no name of ours: `name` is then empty.
 */
function ownName(tag: string | undefined, scope: OrphanScope): { name: string; source: string; registry: string } | undefined {
  if (tag === undefined) return undefined;
  let source: ImageReference;
  try {
    source = parseImageReference(tag);
  } catch {
    return undefined;
  }
  try {
    return { name: targetFor(source, scope.target, scope.nameTemplate ?? DEFAULT_NAME_TEMPLATE).repository, source: repositoryName(source), registry: source.registry };
  } catch {
    return { name: '', source: repositoryName(source), registry: source.registry };
  }
}

/** Where an invalid entry sits, as the sources whose Dockerfile it could be. */
interface InvalidPlace {
  holds(source: string): boolean;
}

// The tree lays files out as <registry>/<repository>/Dockerfile, the registry's ":" spelt "-" or not; a directory that
// could not be read (its path ends with "/") may hold the Dockerfiles of every source below it.
function invalidPlace(issue: FileIssue): InvalidPlace {
  const directoryEntry = isDirectoryEntry({ path: issue.file });
  const dir = directoryEntry ? issue.file.replace(/\/+$/, '') : issue.file.split('/').slice(0, -1).join('/');
  if (dir === '') return { holds: () => directoryEntry };
  const spellings = [dir];
  try {
    // `docker.io/postgres` is the directory of docker.io/library/postgres.
    spellings.push(repositoryName(parseImageReference(dir)));
  } catch {
    // Not a registry/repository path: only the literal spelling can match.
  }
  return {
    holds: (source) =>
      [source, source.replace(':', '-')].some((form) => spellings.some((spelling) => form === spelling || (directoryEntry && form.startsWith(`${spelling}/`)))),
  };
}
