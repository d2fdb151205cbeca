import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RENOVATE_CONFIG_FILES } from './renovate.ts';
import { BotConfigError } from '../errors.ts';

const run = promisify(execFile);

/** The top directory of the git work tree holding `dir`, or undefined outside one (or without git). */
export async function gitTopLevel(dir: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A file's text, or undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BotConfigError(`reading "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/** Writes a file through a temporary sibling and a rename, so that a reader never sees half of it. */
export async function writeTextFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

/** The Renovate configuration file Renovate would read in `root` (its lookup order), or `renovate.json` when none exists. */
export async function locateRenovateConfig(root: string): Promise<string> {
  for (const name of RENOVATE_CONFIG_FILES) {
    const found = await stat(join(root, name)).catch(() => undefined);
    if (found?.isFile()) {
      if (name.endsWith('.json5')) throw new BotConfigError(`Renovate reads "${name}", which is JSON5: convert it to JSON (renovate.json) to let \`mirror renovate\` edit it`);
      return join(root, name);
    }
  }
  return join(root, 'renovate.json');
}
