import { close, fstat, lstat, open } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { SignOffReader, SignOffText } from '../ports.ts';
import { unreadableEntry } from './entries.ts';
import { OPEN_FLAGS, readAll, systemError } from './local-dir.ts';

const lstatAsync = promisify(lstat);
const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);

/** Why a symbolic link is not read, in the Dockerfile sources' words. */
const LINK_REFUSED = 'it is a symbolic link, which is not followed';

/**
 * True for a path that could lead out of the images root: absolute, `..`, `.` or empty segments (split at `separators`),
 * a NUL byte. Paths read below the root (sign-off, policy, key and trust-root files) pass this first.
 */
export function leavesRoot(path: string, separators: RegExp = /\//): boolean {
  return path.includes('\0') || path.split(separators).some((segment) => segment === '' || segment === '.' || segment === '..');
}

/**
 * The refusal of a Dockerfile path that could lead out of the images root; undefined for a plain path below it. The
 * path may come from a scan event or a report, not only a listing.
 */
export function outsideRoot(dockerfilePath: string): string | undefined {
  return leavesRoot(dockerfilePath) ? `"${dockerfilePath}" is not a path below the images root, so no sign-off file is read for it` : undefined;
}

/** The first directory between the root and the file at `path` that is a symbolic link, which O_NOFOLLOW alone would follow. */
export async function linkedDirectory(root: string, path: string): Promise<string | undefined> {
  const dirs = path.split('/').slice(0, -1);
  for (let depth = 1; depth <= dirs.length; depth += 1) {
    const dir = dirs.slice(0, depth).join('/');
    if ((await lstatAsync(join(root, dir))).isSymbolicLink()) return dir;
  }
  return undefined;
}

/**
 * Reads the sign-off file beside a Dockerfile of a local images tree, never following a symbolic link, neither the
 * file nor a directory on its way: a link could lead out of the tree.
 */
export class LocalSignOffReader implements SignOffReader {
  constructor(private readonly root: string) {}

  async read(dockerfilePath: string): Promise<SignOffText | undefined> {
    const path = signOffPathFor(dockerfilePath);
    const outside = outsideRoot(dockerfilePath);
    if (outside !== undefined) return { path, readError: outside };
    try {
      const linked = await linkedDirectory(this.root, path);
      if (linked !== undefined) return { path, readError: `"${linked}" on its way is a symbolic link, which is not followed` };
      return await this.readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      // O_NOFOLLOW fails a link with ELOOP.
      return { path, readError: code === 'ELOOP' ? LINK_REFUSED : systemError(error) };
    }
  }

  /** The file's text, checked on the open file itself: what is checked is what is read. */
  private async readFile(path: string): Promise<SignOffText> {
    const fd = await openAsync(join(this.root, path), OPEN_FLAGS);
    try {
      const info = await fstatAsync(fd);
      const refused = unreadableEntry(path, { symlink: false, regular: info.isFile(), size: info.size })?.readError;
      return refused === undefined ? { path, text: await readAll(fd, info.size) } : { path, readError: refused };
    } finally {
      await closeAsync(fd);
    }
  }
}
