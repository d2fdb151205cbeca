import { formatReference, parseImageReference, repositoryName } from '../image-ref/reference.ts';
import type { MirrorJob } from './plan.ts';

/** The jobs an `only` list picks out of a plan, and the entries that picked none. */
export interface JobSelection {
  readonly jobs: MirrorJob[];
  readonly unmatched: string[];
}

/**
 * The jobs an `only` list selects, in the plan's order: an entry without tag or digest selects every tag of that
 * repository (`postgres` is `docker.io/library/postgres`), one with a tag or digest that image alone. Entries that
 * select nothing come back in `unmatched`, for the caller to report; no list at all selects every job. Throws
 * InvalidImageReferenceError, naming the entry, for an entry that is not an image reference.
 */
export function selectJobs(jobs: readonly MirrorJob[], only: readonly string[] | undefined): JobSelection {
  if (only === undefined) return { jobs: [...jobs], unmatched: [] };
  const selected = new Set<MirrorJob>();
  const unmatched: string[] = [];
  for (const entry of only) {
    const ref = parseImageReference(entry);
    // A tag is a colon after the last slash (a registry port comes before one); a digest is an @.
    const exact = /@|:[^/]*$/.test(entry);
    const matches = jobs.filter((job) => (exact ? formatReference(job.source) === formatReference(ref) : repositoryName(job.source) === repositoryName(ref)));
    if (matches.length === 0) unmatched.push(entry);
    for (const job of matches) selected.add(job);
  }
  return { jobs: jobs.filter((job) => selected.has(job)), unmatched };
}
