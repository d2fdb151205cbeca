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
  /** Each file once, in the order of the Dockerfiles. */
  readonly files: readonly SignOffText[];
  /**
   * The images the scan may be of, each as the paths of the sign-off files that apply to it (those of `files` beside
   * its Dockerfiles). One when a tag picks the image; every image of the repository when none does, and then a finding
   * is accepted only when each candidate accepts it, since the scan may be of any of them.
   */
  readonly candidates: readonly (readonly string[])[];
}

/** Only the target's repository and tag are compared, never its registry: any host will do for the plan. */
const ANY_REGISTRY = 'target.invalid';

/**
 * Finds the Dockerfiles whose image a target repository holds by planning the images tree as the scheduler does, and
 * reads the sign-off file beside each. The jobs of the repository with one of the image's tags are kept, as one
 * candidate whose Dockerfiles' sign-offs all apply; an image without a matching tag (an untagged platform manifest,
 * which ECR's basic scanning scans apart from the index that holds the tag) may be any job of the repository, each a
 * candidate of its own: pooling them would let a sign-off of postgres:14 accept the same CVE in postgres:16.
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
  const groups = byTag.length > 0 ? [byTag.flatMap((job) => job.files)] : ofRepository.map((job) => job.files);
  const dockerfiles = [...new Set(groups.flat())].sort();
  const files = await Promise.all(dockerfiles.map((dockerfile) => readSignOff(deps.signOffs, dockerfile)));
  const seen = new Set<string>();
  // Two Dockerfiles of one directory would share a file: read once, listed once.
  const unique = files.filter((file): file is SignOffText => file !== undefined && !seen.has(file.path) && seen.add(file.path) !== undefined);
  const candidates = groups.map((group) => [...new Set(group.map(signOffPathFor))].filter((path) => seen.has(path)).sort());
  return { dockerfiles, files: unique, candidates };
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
