import type { DockerfileEntry } from '../ports.ts';

// The rules every Dockerfile source applies, whatever it reads from (a directory, a git ref, GitHub).

/** Largest Dockerfile read; a one-line Dockerfile is a few bytes, anything near this is a mistake. */
export const MAX_DOCKERFILE_BYTES = 1024 * 1024;

/** True for a path (below the images root, `/`-separated) named exactly `Dockerfile` outside hidden directories. */
export function isDockerfilePath(path: string): boolean {
  const segments = path.split('/');
  return segments.at(-1) === 'Dockerfile' && !segments.slice(0, -1).some((segment) => segment.startsWith('.'));
}

/** The entry of a file that is not read: a symbolic link, something other than a regular file, or one too large; undefined when it may be read. */
export function unreadableEntry(path: string, file: { readonly symlink: boolean; readonly regular: boolean; readonly size?: number | undefined }): DockerfileEntry | undefined {
  if (file.symlink) return { path, readError: 'it is a symbolic link, which is not followed' };
  if (!file.regular) return { path, readError: 'it is not a regular file' };
  if (file.size !== undefined && file.size > MAX_DOCKERFILE_BYTES) return { path, readError: tooLarge(file.size) };
  return undefined;
}

/** Why a file of this many bytes is not read. */
export function tooLarge(bytes: number): string {
  return `it is ${bytes} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed`;
}
