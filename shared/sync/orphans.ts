import { parseImageReference, repositoryName } from '../image-ref/reference.ts';
import { isDirectoryEntry, type Plan } from '../plan/plan.ts';
import type { FileIssue, ManagedRepository, RepositoryStore } from '../ports.ts';

/** What an orphan check found under a target prefix. Nothing is ever deleted. */
export interface OrphanReport {
  /** Repositories the mirror manages under the prefix that no Dockerfile names any more, by name. */
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
}

/**
 * The repositories under `prefix` tagged managed-by=image-mirror that no job of the plan (built with that target)
 * mirrors into: left behind when their Dockerfile was removed or renamed. A repository whose source's directory holds an
 * invalid Dockerfile is spared: the file is being fixed, not removed. Only repositories the plan does not name have
 * their tags read.
 */
export async function findOrphans(plan: Plan, store: Pick<RepositoryStore, 'listManaged'>, prefix: string): Promise<OrphanReport> {
  const named = new Set(plan.jobs.flatMap((job) => (job.target === undefined ? [] : [job.target.repository])));
  const listing = await store.listManaged(prefix, named);
  const invalid = plan.errors.map(invalidPlace);
  const orphans: ManagedRepository[] = [];
  const spared: ManagedRepository[] = [];
  for (const repository of listing.repositories) {
    const source = repository.source;
    (source !== undefined && invalid.some((place) => place.holds(source)) ? spared : orphans).push(repository);
  }
  return { orphans, checked: listing.total, spared, invalid: new Set(plan.errors.map((issue) => issue.file)).size };
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
