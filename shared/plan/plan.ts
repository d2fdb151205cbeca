import { describeError, MirrorError } from '../errors.ts';
import { baseImagesOf } from '../dockerfile/base-images.ts';
import { formatReference, type ImageReference, parseImageReference, repositoryName } from '../image-ref/reference.ts';
import { DEFAULT_NAME_TEMPLATE, type TargetBase, targetFor } from '../image-ref/target.ts';
import type { DockerfileEntry, FileIssue } from '../ports.ts';
import { safeText } from '../safe-text.ts';

/** One image to mirror, with the files that name it. */
export interface MirrorJob {
  readonly source: ImageReference;
  readonly target?: ImageReference;
  readonly files: readonly string[];
}

/** The result of planning: jobs for every valid image, errors for files that yield none, warnings that block nothing. */
export interface Plan {
  readonly jobs: readonly MirrorJob[];
  readonly errors: readonly FileIssue[];
  readonly warnings: readonly FileIssue[];
}

export interface PlanOptions {
  /** Where images go; without it jobs carry no target (a plain `mirror plan`). */
  readonly target?: TargetBase;
  readonly nameTemplate?: string;
  /** Source registries allowed; empty or absent allows all. */
  readonly allowRegistries?: readonly string[];
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
  const byKey = new Map<string, { source: ImageReference; target?: ImageReference; files: Set<string> }>();

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
    let planned: { source: ImageReference; target?: ImageReference }[];
    try {
      const images = baseImagesOf(entry.text).map((image) => image.reference);
      const refused = images.filter((ref) => allowed.size > 0 && !allowed.has(ref.registry));
      if (refused.length > 0) {
        fail(refused.map((ref) => `registry "${ref.registry}" of "${formatReference(ref)}" is not allowed (allowed: ${[...allowed].join(', ')})`).join('; '));
        continue;
      }
      planned = images.map((source) => (options.target === undefined ? { source } : { source, target: targetFor(source, options.target, options.nameTemplate ?? DEFAULT_NAME_TEMPLATE) }));
    } catch (error) {
      fail(planningError(error));
      continue;
    }
    const mismatch = pathMismatch(entry.path, planned.map((p) => p.source));
    if (mismatch !== undefined) warnings.push({ file: entry.path, message: mismatch });
    for (const job of planned) {
      const key = `${formatReference(job.source)} ${job.target === undefined ? '' : formatReference(job.target)}`;
      const existing = byKey.get(key);
      if (existing) existing.files.add(entry.path);
      else byKey.set(key, { ...job, files: new Set([entry.path]) });
    }
  }

  const jobs = dropCollisions([...byKey.values()], errors);
  return {
    jobs: jobs.map((job) => ({ ...job, files: [...job.files].sort() })).sort((a, b) => formatReference(a.source).localeCompare(formatReference(b.source))),
    errors,
    warnings,
  };
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

// Two different sources landing on one target tag would overwrite each other: refuse all of them, in every file that names one.
function dropCollisions<J extends { source: ImageReference; target?: ImageReference; files: Set<string> }>(jobs: J[], errors: FileIssue[]): J[] {
  const byTarget = new Map<string, J[]>();
  for (const job of jobs) {
    if (job.target === undefined) continue;
    const key = formatReference(job.target);
    const group = byTarget.get(key);
    if (group) group.push(job);
    else byTarget.set(key, [job]);
  }
  const dropped = new Set<J>();
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
