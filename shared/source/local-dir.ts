import { close, constants, type Dirent, fstat, open, read, readdir, stat } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { byPath, symlinkWarning, unreadableEntry } from './entries.ts';

/**
 * Directories read at once, each with its Dockerfile and links. One file at a time, a tree of 100,000 Dockerfiles took
 * 20 s to list; 64 at once take 2 s on a local disk (8 take twice that, 128 no less) and keep a network file system busy.
 */
const CONCURRENCY = 64;

/** A file is opened without following a link (ELOOP) nor waiting on a FIFO swapped in since the listing. */
export const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

// The callback forms of node:fs, promisified: fs/promises wraps every open file in a FileHandle, which measured about
// half again as much CPU on a 100,000-file tree.
const readdirAsync = promisify(readdir);
const statAsync = promisify(stat);
const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);
const closeAsync = promisify(close);

/**
 * Reads every `Dockerfile` below a local directory, never following symbolic links: a linked Dockerfile is refused, a
 * link to a directory gets a warning. A directory that cannot be read becomes an entry of its own (its path ending in
 * `/`) and the walk goes on: one bad directory never hides the rest.
 */
export class LocalDockerfileSource implements DockerfileSource {
  constructor(private readonly root: string) {}

  list(): Promise<DockerfileEntry[]> {
    return new Walk(this.root).run();
  }
}

/**
 * One listing: up to CONCURRENCY directories read at once, each with its Dockerfile and links. Directories still to
 * read wait as paths, so that a directory of 100,000 children costs 100,000 strings, not 100,000 pending reads.
 */
class Walk {
  private readonly waiting: string[] = [];
  private readonly entries: DockerfileEntry[] = [];
  private active = 0;

  constructor(private readonly root: string) {}

  async run(): Promise<DockerfileEntry[]> {
    // The images root is what the run was asked to read: failing to, the run fails.
    const top = await readdirAsync(this.root, { withFileTypes: true });
    await new Promise<void>((resolve, reject) => {
      this.visitAll('', top).then(() => this.pump(resolve, reject), reject);
    });
    return this.entries.sort(byPath);
  }

  /** Starts reads until CONCURRENCY run or none waits; resolves once the last read is done and none waits. */
  private pump(resolve: () => void, reject: (error: unknown) => void): void {
    while (this.active < CONCURRENCY && this.waiting.length > 0) {
      const dir = this.waiting.pop() as string;
      this.active += 1;
      this.readDir(dir).then(() => {
        this.active -= 1;
        this.pump(resolve, reject);
      }, reject);
    }
    if (this.active === 0) resolve();
  }

  private async readDir(dir: string): Promise<void> {
    let children: Dirent[];
    try {
      children = await readdirAsync(join(this.root, dir), { withFileTypes: true });
    } catch (error) {
      this.entries.push({ path: `${dir}/`, readError: systemError(error) });
      return;
    }
    await this.visitAll(dir, children);
  }

  private async visitAll(dir: string, children: readonly Dirent[]): Promise<void> {
    for (const child of children) {
      const path = dir === '' ? child.name : `${dir}/${child.name}`;
      const entry = await this.visit(path, child);
      if (entry !== undefined) this.entries.push(entry);
    }
  }

  private async visit(path: string, child: Dirent): Promise<DockerfileEntry | undefined> {
    // Hidden directories hold no images, and no Dockerfile is hidden.
    if (child.name.startsWith('.')) return undefined;
    if (child.isDirectory()) this.waiting.push(path);
    else if (child.name === 'Dockerfile') return this.read(path, child);
    else if (child.isSymbolicLink()) return this.link(path);
    return undefined;
  }

  /** A Dockerfile's text, checked on the open file itself: what is checked is what is read. */
  private async read(path: string, child: Dirent): Promise<DockerfileEntry> {
    const refused = unreadableEntry(path, { symlink: child.isSymbolicLink(), regular: child.isFile() });
    if (refused !== undefined) return refused;
    try {
      const fd = await openAsync(join(this.root, path), OPEN_FLAGS);
      try {
        const info = await fstatAsync(fd);
        return unreadableEntry(path, { symlink: false, regular: info.isFile(), size: info.size }) ?? { path, text: await readAll(fd, info.size) };
      } finally {
        await closeAsync(fd);
      }
    } catch (error) {
      return { path, readError: systemError(error) };
    }
  }

  /** A link not named `Dockerfile`: a warning unless it points to a file, which could not be a Dockerfile anyway. */
  private async link(path: string): Promise<DockerfileEntry | undefined> {
    const target = await statAsync(join(this.root, path)).catch(() => undefined);
    if (target !== undefined && !target.isDirectory()) return undefined;
    return symlinkWarning(path, target === undefined ? 'unknown' : 'directory');
  }
}

/** The first `size` bytes of an open file as UTF-8, fewer if it shrank since its size was read. */
export async function readAll(fd: number, size: number): Promise<string> {
  const buffer = Buffer.alloc(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await readAsync(fd, buffer, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.toString('utf8', 0, filled);
}

/**
 * A file system error without the machine's paths, which Node's messages end with (`EACCES: permission denied,
 * scandir '/home/…'`): its code and description, which the entry's own path makes enough to act on.
 */
export function systemError(error: unknown): string {
  const { code, syscall, message } = error as NodeJS.ErrnoException;
  if (code === undefined) return error instanceof Error ? error.message : String(error);
  const described = syscall === undefined ? undefined : message.split(`, ${syscall}`)[0];
  return described?.startsWith(`${code}: `) ? described : code;
}
