import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { GitSourceError } from '../errors.ts';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { byPath, treeEntry } from './entries.ts';

const run = promisify(execFile);

/** Where an images directory sits in its git repository. */
export interface GitLocation {
  /** The work tree's top directory. */
  readonly root: string;
  /** The images directory from the top, with a trailing `/` (`images/`); `''` at the top itself. */
  readonly prefix: string;
}

/** The git repository and path of a local directory; throws GitSourceError outside a work tree. */
export async function locateInGit(dir: string): Promise<GitLocation> {
  try {
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel', '--show-prefix'], { encoding: 'utf8' });
    const [root = '', prefix = ''] = stdout.split('\n');
    if (root === '') throw new Error('git printed no top-level directory');
    return { root, prefix };
  } catch (error) {
    // The message carries git's own words; the raw child-process error adds only noise.
    throw new GitSourceError(`"${dir}" is not inside a git work tree: ${gitMessage(error)}`);
  }
}

/** The commit a ref names (`origin/main`, `HEAD~1`, a tag, a sha); throws GitSourceError when there is none. */
export async function resolveCommit(root: string, ref: string): Promise<string> {
  if (ref.startsWith('-') || ref.includes('\0')) throw new GitSourceError(`"${ref}" is not a git ref`);
  try {
    const { stdout } = await run('git', ['-C', root, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { encoding: 'utf8' });
    return stdout.trim();
  } catch {
    throw new GitSourceError(`"${ref}" names no commit in ${root}`);
  }
}

/**
 * The Dockerfiles of an images directory as they are at a commit: one `git ls-tree` and one `git cat-file --batch`,
 * whatever the number of files. Same rules as the local directory: hidden directories are skipped, symbolic links
 * and oversized files become read errors; any other symbolic link gets a warning, since git cannot say whether it
 * points to a directory.
 */
export class GitRefDockerfileSource implements DockerfileSource {
  constructor(
    private readonly location: GitLocation,
    private readonly commit: string,
  ) {}

  async list(): Promise<DockerfileEntry[]> {
    const { root, prefix } = this.location;
    const pathspec = prefix === '' ? [] : ['--', prefix];
    let listing: string;
    try {
      ({ stdout: listing } = await run('git', ['-C', root, 'ls-tree', '-r', '-z', '-l', '--full-tree', this.commit, ...pathspec], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }));
    } catch (error) {
      throw new GitSourceError(`listing ${prefix || '/'} at ${this.commit}: ${gitMessage(error)}`);
    }
    const entries: DockerfileEntry[] = [];
    const blobs: { index: number; object: string }[] = [];
    for (const line of listing.split('\0')) {
      const match = /^(\d{6}) (\w+) ([0-9a-f]+) +(\S+)\t(.*)$/s.exec(line);
      if (!match) continue;
      const [, mode, type, object, size, fullPath] = match as unknown as [string, string, string, string, string, string];
      if (!fullPath.startsWith(prefix)) continue;
      const path = fullPath.slice(prefix.length);
      const entry = treeEntry(path, { mode, regular: type === 'blob', size: Number(size) });
      if (entry === 'read') {
        blobs.push({ index: entries.length, object });
        entries.push({ path });
      } else if (entry !== undefined) entries.push(entry);
    }
    const texts = await catBlobs(root, blobs.map((blob) => blob.object));
    blobs.forEach((blob, i) => {
      entries[blob.index] = { path: (entries[blob.index] as DockerfileEntry).path, text: texts[i] as string };
    });
    return entries.sort(byPath);
  }
}

// `git cat-file --batch` answers "<oid> blob <size>\n<bytes>\n" per object asked on stdin.
function catBlobs(root: string, objects: readonly string[]): Promise<string[]> {
  if (objects.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', root, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => reject(new GitSourceError(`reading blobs: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code !== 0) return reject(new GitSourceError(`reading blobs: git cat-file exited ${code}: ${stderr.trim()}`));
      const output = Buffer.concat(chunks);
      const texts: string[] = [];
      let offset = 0;
      for (const object of objects) {
        const newline = output.indexOf(0x0a, offset);
        const header = output.subarray(offset, newline).toString('utf8');
        const match = /^([0-9a-f]+) blob (\d+)$/.exec(header);
        if (newline < 0 || !match || match[1] !== object) return reject(new GitSourceError(`reading blob ${object}: unexpected answer "${header}"`));
        const size = Number(match[2]);
        texts.push(output.subarray(newline + 1, newline + 1 + size).toString('utf8'));
        offset = newline + 1 + size + 1;
      }
      return resolve(texts);
    });
    child.stdin.end(`${objects.join('\n')}\n`);
  });
}

function gitMessage(error: unknown): string {
  const failure = error as { stderr?: string; message?: string; code?: string };
  if (failure.code === 'ENOENT') return 'git is not installed';
  return (failure.stderr?.trim() || failure.message || String(error)).split('\n')[0] ?? '';
}
