import { describeError } from '../errors.ts';
import { buildPlan, type MirrorJob } from '../plan/plan.ts';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { DockerfileSource, SignOffReader, SignOffText } from '../ports.ts';

/** How mirrored repositories are named, to find the Dockerfile a repository of the registry comes from. */
export interface LocateSettings {
  /** The target prefix the repositories are under: `mirror`. */
  readonly targetPrefix: string;
  readonly nameTemplate: string;
}

/** The image a scan was of, as ECR names it. */
export interface ScannedTarget {
  readonly repository: string;
  /** The image's tags; empty for an untagged manifest (one platform of a multi-platform index). */
  readonly tags: readonly string[];
}

/** The Dockerfiles that name a mirrored image, and the sign-off files beside them (those that exist). */
export interface LocatedSignOffs {
  /** Paths below the images root, sorted. */
  readonly dockerfiles: readonly string[];
  readonly files: readonly SignOffText[];
}

/** Only the target's repository and tag are compared, never its registry: any host will do for the plan. */
const ANY_REGISTRY = 'target.invalid';

/**
 * Finds the Dockerfiles whose image a target repository holds by planning the images tree as the scheduler does, and
 * reads the sign-off file beside each. The jobs of the repository with one of the image's tags are kept; an image
 * without a matching tag (an untagged platform manifest, whose index holds the tag) keeps every job of the repository.
 * Throws when the tree cannot be listed; a sign-off file that cannot be read is returned with its `readError`.
 */
export async function locateSignOffs(
  target: ScannedTarget,
  deps: { readonly source: DockerfileSource; readonly signOffs: SignOffReader },
  settings: LocateSettings,
): Promise<LocatedSignOffs> {
  const plan = buildPlan(await deps.source.list(), { target: { registry: ANY_REGISTRY, prefix: settings.targetPrefix }, nameTemplate: settings.nameTemplate });
  const ofRepository = plan.jobs.filter((job) => job.target?.repository === target.repository);
  const byTag = ofRepository.filter((job) => tagOf(job) !== undefined && target.tags.includes(tagOf(job) as string));
  const jobs = byTag.length > 0 ? byTag : ofRepository;
  const dockerfiles = [...new Set(jobs.flatMap((job) => job.files))].sort();
  const files = await Promise.all(dockerfiles.map((dockerfile) => readSignOff(deps.signOffs, dockerfile)));
  const seen = new Set<string>();
  // Two Dockerfiles of one directory would share a file: read once, listed once.
  const unique = files.filter((file): file is SignOffText => file !== undefined && !seen.has(file.path) && seen.add(file.path) !== undefined);
  return { dockerfiles, files: unique };
}

function tagOf(job: MirrorJob): string | undefined {
  return job.target?.tag;
}

/** A reader that throws (GitHub down) fails this file only: its sign-offs then count for nothing, the others still do. */
async function readSignOff(reader: SignOffReader, dockerfile: string): Promise<SignOffText | undefined> {
  try {
    return await reader.read(dockerfile);
  } catch (error) {
    return { path: signOffPathFor(dockerfile), readError: describeError(error) };
  }
}
