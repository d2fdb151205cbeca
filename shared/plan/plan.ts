import { describeError, MirrorError } from '../errors.ts';
import { baseImagesOf } from '../dockerfile/base-images.ts';
import { formatReference, type ImageReference, parseImageReference, repositoryName } from '../image-ref/reference.ts';
import { DEFAULT_NAME_TEMPLATE, type TargetBase, targetFor } from '../image-ref/target.ts';
import type { DockerfileEntry, FileIssue } from '../ports.ts';
import type { VerifyRule } from './policy.ts';
import { safeText } from '../safe-text.ts';

/** One image to mirror, with the files that name it. */
export interface MirrorJob {
  readonly source: ImageReference;
  readonly target?: ImageReference;
  readonly files: readonly string[];
  /** The signature policy rule that covers the image: it is verified before anything of it is copied. */
  readonly verify?: VerifyRule;
}

/** The result of planning: jobs for every valid image, errors for files that yield none, warnings that block nothing. */
export interface Plan {
  readonly jobs: readonly MirrorJob[];
  readonly errors: readonly FileIssue[];
  /** Notices that block nothing, among them one per file naming a registry the allow-list leaves out. */
  readonly warnings: readonly FileIssue[];
  /**
   * The files naming a registry the allow-list leaves out (each has its notice in `warnings`): their images of other
   * registries are not mirrored, and the files are not invalid for it. Absent for a plan not made by buildPlan.
   */
  readonly notMirrored?: readonly string[];
}

export interface PlanOptions {
  /** Where images go; without it jobs carry no target (a plain `mirror plan`). */
  readonly target?: TargetBase;
  readonly nameTemplate?: string;
  /** Source registries mirrored from; images of any other are left out with a notice, not an error. Empty or absent allows all. */
  readonly allowRegistries?: readonly string[];
}

/**
 * The target base names are checked under when a plan has no target: collisions depend on the name template alone,
 * never on the registry and prefix in front, so a plain `mirror plan` refuses what the sync would refuse.
 */
const PLACEHOLDER_TARGET: TargetBase = Object.freeze({ registry: '<target>', prefix: '' });

/** A job being planned: the target name it is checked for collisions under (the real one, or under the placeholder). */
interface Planned {
  readonly source: ImageReference;
  readonly target?: ImageReference;
  readonly name: ImageReference;
  readonly files: Set<string>;
}

/** True for the entry of a directory a source could not read (its path ends with `/`), which is no Dockerfile. */
export function isDirectoryEntry(entry: DockerfileEntry): boolean {
  return entry.path.endsWith('/');
}

/** Turns Dockerfiles into mirror jobs. Pure: bad files become errors, every valid file still yields its jobs. */
export function buildPlan(entries: readonly DockerfileEntry[], options: PlanOptions = {}): Plan {
  const allowed = normaliseAllowList(options.allowRegistries ?? []);
  const errors: FileIssue[] = [];
  const warnings: FileIssue[] = [];
  const notMirrored: string[] = [];
  const byKey = new Map<string, Planned>();

  for (const entry of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const fail = (message: string) => errors.push({ file: entry.path, message });
    if (entry.warning !== undefined) {
      warnings.push({ file: entry.path, message: entry.warning });
      continue;
    }
    if (entry.readError !== undefined || entry.text === undefined) {
      fail(`reading the ${isDirectoryEntry(entry) ? 'directory' : 'file'}: ${entry.readError ?? 'no content'}`);
      continue;
    }
    let images: ImageReference[];
    let planned: Omit<Planned, 'files'>[];
    try {
      images = baseImagesOf(entry.text).map((image) => image.reference);
      const kept = images.filter((ref) => allowed.size === 0 || allowed.has(ref.registry));
      planned = kept.map((source) => plannedJob(source, options));
    } catch (error) {
      fail(planningError(error));
      continue;
    }
    const refused = notAllowedNotice(images, allowed);
    if (refused !== undefined) {
      warnings.push({ file: entry.path, message: refused });
      notMirrored.push(entry.path);
    }
    if (planned.length === 0) continue;
    const mismatch = pathMismatch(entry.path, images);
    if (mismatch !== undefined) warnings.push({ file: entry.path, message: mismatch });
    for (const job of planned) {
      const key = `${formatReference(job.source)} ${formatReference(job.name)}`;
      const existing = byKey.get(key);
      if (existing) existing.files.add(entry.path);
      else byKey.set(key, { ...job, files: new Set([entry.path]) });
    }
  }

  const jobs = dropCollisions([...byKey.values()], errors);
  return {
    jobs: jobs.map(({ source, target, files }) => ({ source, ...(target === undefined ? {} : { target }), files: [...files].sort() })).sort((a, b) => formatReference(a.source).localeCompare(formatReference(b.source))),
    errors,
    warnings,
    notMirrored,
  };
}

/** A source with its target (when the plan has one) and the name it is checked for collisions under. Throws a TargetNameError. */
function plannedJob(source: ImageReference, options: PlanOptions): Omit<Planned, 'files'> {
  const name = targetFor(source, options.target ?? PLACEHOLDER_TARGET, options.nameTemplate ?? DEFAULT_NAME_TEMPLATE);
  return options.target === undefined ? { source, name } : { source, target: name, name };
}

/** `not mirrored: registry docker.io is not in the allowed registries (quay.io)`, once per file; undefined when all are allowed. */
function notAllowedNotice(images: readonly ImageReference[], allowed: ReadonlySet<string>): string | undefined {
  if (allowed.size === 0) return undefined;
  const refused = [...new Set(images.map((ref) => ref.registry).filter((registry) => !allowed.has(registry)))];
  if (refused.length === 0) return undefined;
  const registries = refused.length === 1 ? `registry ${refused[0]} is` : `registries ${refused.join(', ')} are`;
  return `not mirrored: ${registries} not in the allowed registries (${[...allowed].join(', ')})`;
}

/**
 * Why a file yields no job. Anything a file makes us throw is that file's error, never the run's: ours already say
 * what is wrong; anything else (a bound we missed, a bug) is shown escaped and capped.
 */
function planningError(error: unknown): string {
  return error instanceof MirrorError ? describeError(error) : `it could not be planned: ${safeText(describeError(error))}`;
}

/** Sources a collision error names; the rest are counted, so that n files colliding cost n short errors, not n². */
const COLLISION_SOURCES_NAMED = 3;

// Two different sources landing on one target tag would overwrite each other: refuse all of them, in every file that
// names one. Without a target the names under the placeholder collide just the same: the sync would refuse them.
function dropCollisions(jobs: Planned[], errors: FileIssue[]): Planned[] {
  const byTarget = new Map<string, Planned[]>();
  for (const job of jobs) {
    const key = formatReference(job.name);
    const group = byTarget.get(key);
    if (group) group.push(job);
    else byTarget.set(key, [job]);
  }
  const dropped = new Set<Planned>();
  for (const [target, group] of byTarget) {
    if (group.length < 2) continue;
    const message = collisionMessage(target, group.slice(0, COLLISION_SOURCES_NAMED).map((job) => job.source), group.length);
    for (const job of group) {
      dropped.add(job);
      for (const file of job.files) errors.push({ file, message });
    }
  }
  errors.sort((a, b) => a.file.localeCompare(b.file));
  return jobs.filter((job) => !dropped.has(job));
}

function collisionMessage(target: string, named: readonly ImageReference[], count: number): string {
  const quoted = named.map((source) => `"${formatReference(source)}"`);
  if (count === 2) return `${quoted.join(' and ')} would both be mirrored to "${target}": rename one with --name-template or pin them apart`;
  const listed = count > quoted.length ? `${quoted.join(', ')} and ${count - quoted.length} more` : `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
  return `${count} sources would all be mirrored to "${target}" (${listed}): rename them with --name-template or pin them apart`;
}

function normaliseAllowList(registries: readonly string[]): Set<string> {
  return new Set(registries.map((registry) => parseImageReference(`${registry}/x`).registry));
}

// The seed lays files out as <registry>/<repository>/Dockerfile; a file elsewhere is fine, a contradiction is worth a warning.
function pathMismatch(path: string, sources: readonly ImageReference[]): string | undefined {
  const dir = path.split('/').slice(0, -1).join('/');
  if (!dir.includes('/')) return undefined;
  // `host-5000/…` is how target names spell `host:5000/…`; a tree may use either.
  if (sources.some((source) => dir === `${source.registry.replace(':', '-')}/${source.repository}`)) return undefined;
  let expected: string;
  try {
    expected = repositoryName(parseImageReference(dir));
  } catch {
    return `directory "${dir}" is not a registry/repository path, so it cannot be checked against its FROM`;
  }
  if (sources.some((source) => repositoryName(source) === expected)) return undefined;
  return `directory says "${expected}" but FROM names ${sources.map((s) => `"${repositoryName(s)}"`).join(', ')}`;
}
