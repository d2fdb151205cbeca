import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs git in a directory with a fixed identity, and returns what it printed. */
export async function git(dir: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', dir, '-c', 'user.name=image-mirror tests', '-c', 'user.email=tests@example.com', '-c', 'commit.gpgsign=false', ...args], { encoding: 'utf8' });
  return stdout;
}

/** A new git repository in a temporary directory, on branch main. */
export async function makeGitRepo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-git-'));
  await git(dir, 'init', '--quiet', '--initial-branch=main');
  return dir;
}

/** Writes files (paths from `dir`; null deletes), then commits everything when a message is given. */
export async function writeFiles(dir: string, files: Record<string, string | null>, message?: string): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    if (text === null) await rm(full, { force: true });
    else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, text);
    }
  }
  if (message !== undefined) {
    await git(dir, 'add', '--all');
    await git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
  }
}
