import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { BotConfigError } from '../errors.ts';
import type { RepositoryFiles } from '../ports.ts';
import { RENOVATE_CONFIG_FILES } from './renovate.ts';

const run = promisify(execFile);

/** A repository's files on disk; git tells where its top level is. */
export class LocalRepositoryFiles implements RepositoryFiles {
  async topLevel(dir: string): Promise<string | undefined> {
    try {
      const { stdout } = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
      return stdout.trim() || undefined;
    } catch {
      return undefined;
    }
  }

  async read(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new BotConfigError(`reading "${path}": ${(error as Error).message}`, { cause: error });
    }
  }

  /** Writes through a temporary sibling and a rename, so that a reader never sees half of the file. */
  async write(path: string, text: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, text);
    await rename(temporary, path);
  }

  async renovateConfigPath(root: string): Promise<string> {
    for (const name of RENOVATE_CONFIG_FILES) {
      const found = await stat(join(root, name)).catch(() => undefined);
      if (found?.isFile()) {
        if (name.endsWith('.json5')) throw new BotConfigError(`Renovate reads "${name}", which is JSON5: convert it to JSON (renovate.json) to let \`mirror renovate\` edit it`);
        return join(root, name);
      }
    }
    return join(root, 'renovate.json');
  }
}
