import type { DockerfileEntry } from '../ports.ts';

// The rules every Dockerfile source applies, whatever it reads from (a directory, a git ref, GitHub).

/** Largest Dockerfile read; a one-line Dockerfile is a few bytes, anything near this is a mistake. */
export const MAX_DOCKERFILE_BYTES = 1024 * 1024;

/** The mode git gives a symbolic link in a tree. */
const SYMLINK_MODE = '120000';

/** True for a path (below the images root, `/`-separated) named exactly `Dockerfile` outside hidden directories. */
function isDockerfilePath(path: string): boolean {
  const segments = path.split('/');
  return segments.at(-1) === 'Dockerfile' && !segments.slice(0, -1).some(isHidden);
}

/** The entry of a file that is not read: a symbolic link, something other than a regular file, or one too large; undefined when it may be read. */
export function unreadableEntry(path: string, file: { readonly symlink: boolean; readonly regular: boolean; readonly size?: number | undefined }): DockerfileEntry | undefined {
  if (file.symlink) return { path, readError: 'it is a symbolic link, which is not followed' };
  if (!file.regular) return { path, readError: 'it is not a regular file' };
  if (file.size !== undefined && file.size > MAX_DOCKERFILE_BYTES) return { path, readError: tooLarge(file.size) };
  return undefined;
}

/**
 * The warning for a symbolic link that may hide Dockerfiles: one outside hidden directories and not named `Dockerfile`
 * (such a link is a file we refuse, see unreadableEntry); undefined for any other link. Links are never followed, so
 * the user hears that the Dockerfiles below one are not mirrored instead of missing them silently. `unknown` when the
 * source cannot tell where the link points: a git tree stores only the target's name, and a dangling link points nowhere.
 */
export function symlinkWarning(path: string, pointsTo: 'directory' | 'unknown'): DockerfileEntry | undefined {
  const segments = path.split('/');
  if (segments.at(-1) === 'Dockerfile' || segments.some(isHidden)) return undefined;
  return { path, warning: LINK_WARNINGS[pointsTo] };
}

/** The order every source lists its entries in, whatever order it found them in. */
export function byPath(a: DockerfileEntry, b: DockerfileEntry): number {
  return a.path.localeCompare(b.path);
}

/**
 * What a git tree's entry (a local ref or GitHub) comes to: `read` for a Dockerfile to read, the entry to report for one
 * refused or for a symbolic link that may hide Dockerfiles, undefined for anything else. A tree stores a link's target
 * only by name, so a link cannot be told to point to a directory.
 */
export function treeEntry(path: string, item: { readonly mode: string; readonly regular: boolean; readonly size?: number | undefined }): 'read' | DockerfileEntry | undefined {
  const symlink = item.mode === SYMLINK_MODE;
  if (!isDockerfilePath(path)) return symlink ? symlinkWarning(path, 'unknown') : undefined;
  return unreadableEntry(path, { symlink, regular: item.regular, size: item.size }) ?? 'read';
}

/** Why a file of this many bytes is not read. */
export function tooLarge(bytes: number): string {
  return `it is ${bytes} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed`;
}

const LINK_WARNINGS = {
  directory: 'it is a symbolic link to a directory, which is not followed: no Dockerfile below it is mirrored',
  unknown: 'it is a symbolic link, which is not followed: if it points to a directory, no Dockerfile below it is mirrored',
} as const;

/** Hidden directories (`.git`, `.github`, …) hold no images. */
function isHidden(segment: string): boolean {
  return segment.startsWith('.');
}
