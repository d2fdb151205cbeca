import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach } from 'vitest';
import { writeFiles } from './git.ts';

// What an images tree can hold that a source must survive, for the source tests and the end-to-end ones: directories
// nobody may read, paths past PATH_MAX.

const run = promisify(execFile);

/** `nobody`, whom a test running as root becomes: root reads through any permission bits. */
export const NOBODY = 65534;

/** What a child process printed and how it exited. */
export interface ChildRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command for whom permission bits hold: as it is for an ordinary user, as nobody through setpriv for root.
 * Throws, never skips, when root has no setpriv: a test of unreadable directories would prove nothing. What the
 * command reads (node, tsx, the repository, its arguments) must be readable by nobody, as `/tmp` and `/work` are.
 */
export function runUnprivileged(command: string, args: readonly string[], options: { readonly cwd?: string; readonly env?: Record<string, string> } = {}): Promise<ChildRun> {
  const [file, argv] = process.getuid?.() === 0 ? [setpriv(), [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', command, ...args]] : [command, [...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: options.cwd, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr: error && stderr === '' ? error.message : stderr });
    });
  });
}

/**
 * Nests directories below `dir` until their path is well past PATH_MAX (4096 bytes), with a Dockerfile in the last.
 * Made by relative steps in a child process, since no absolute path that long works.
 */
export async function nestPastPathMax(dir: string, text: string): Promise<void> {
  const script = `const fs = require('node:fs');
process.chdir(process.argv[1]);
for (let i = 0; i < 25; i += 1) { fs.mkdirSync('d'.repeat(200)); process.chdir('d'.repeat(200)); }
fs.writeFileSync('Dockerfile', process.argv[2]);`;
  await run(process.execPath, ['--eval', script, dir, text]);
}

/** Removes a tree whatever it holds: permissions back first for an ordinary user, and rm copes with paths past PATH_MAX. */
export async function removeTree(dir: string): Promise<void> {
  await run('sh', ['-c', 'chmod -R u+rwX "$1"; rm -rf "$1"', 'sh', dir]);
}

function setpriv(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error('the tests run as root, whom permission bits do not stop: install setpriv (util-linux) to run them as nobody');
}

/**
 * For a test file of a local reader: `tree(files)` makes a temporary images tree with these files, readable by every
 * user (`nobody` included, as runUnprivileged needs), and every tree made is removed after each test.
 */
export function treesPerTest(prefix: string): (files?: Record<string, string>) => Promise<string> {
  const made: string[] = [];
  afterEach(async () => {
    for (const dir of made.splice(0)) await removeTree(dir);
  });
  return async (files = {}) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    await chmod(dir, 0o755);
    await writeFiles(dir, files);
    return dir;
  };
}
