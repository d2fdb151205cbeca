import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { unreadableEntry } from './entries.ts';

/** Reads every `Dockerfile` below a local directory, never following symbolic links out of it. */
export class LocalDockerfileSource implements DockerfileSource {
  constructor(private readonly root: string) {}

  async list(): Promise<DockerfileEntry[]> {
    const entries: DockerfileEntry[] = [];
    await this.walk(this.root, entries);
    return entries;
  }

  private async walk(dir: string, out: DockerfileEntry[]): Promise<void> {
    const children = await readdir(dir, { withFileTypes: true });
    for (const child of children.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, child.name);
      if (child.isDirectory()) {
        if (!child.name.startsWith('.')) await this.walk(full, out);
      } else if (child.name === 'Dockerfile') {
        out.push(await this.read(full));
      }
    }
  }

  private async read(full: string): Promise<DockerfileEntry> {
    const path = relative(this.root, full).split(sep).join('/');
    try {
      const stat = await lstat(full);
      const unreadable = unreadableEntry(path, { symlink: stat.isSymbolicLink(), regular: stat.isFile(), size: stat.size });
      if (unreadable !== undefined) return unreadable;
      return { path, text: await readFile(full, 'utf8') };
    } catch (error) {
      return { path, readError: (error as Error).message };
    }
  }
}
