import { join } from 'node:path';
import { BotConfigError, describeError } from '../errors.ts';
import type { RepositoryFiles } from '../ports.ts';
import { DEPENDABOT_CONFIG_PATH, updateDependabotConfig } from './dependabot.ts';
import { updateRenovateConfig } from './renovate.ts';
import type { BotSchedule, ConfigUpdate, ImagesTree } from './tree.ts';

export type Bot = 'dependabot' | 'renovate';

export interface BotRequest {
  readonly bot: Bot;
  /** The repository root the bot reads its configuration in. */
  readonly root: string;
  readonly tree: ImagesTree;
  readonly schedule?: BotSchedule;
  readonly group?: string;
  /** Renovate only. */
  readonly pinDigests?: boolean;
  /** False for a dry run or a check: nothing is written. */
  readonly write: boolean;
  /** How a path is shown in messages (relative to where the user stands, say). */
  readonly display: (path: string) => string;
}

/** What configuring a bot did: the file, whether it existed, the update, and whether it was written. */
export interface BotRun {
  readonly file: string;
  readonly existed: boolean;
  readonly update: ConfigUpdate;
  readonly written: boolean;
}

/**
 * Reads the bot's configuration file, updates it from the images tree, and writes it back when the result is valid,
 * changed and writing was asked for. Throws BotConfigError naming the file when it cannot be read or updated.
 */
export async function configureBot(request: BotRequest, files: RepositoryFiles): Promise<BotRun> {
  const file = request.bot === 'dependabot' ? join(request.root, DEPENDABOT_CONFIG_PATH) : await named(request.display(request.root), () => files.renovateConfigPath(request.root));
  const shown = request.display(file);
  const existing = await files.read(file);
  const update = await named(shown, async () => {
    const options = {
      ...(request.schedule === undefined ? {} : { schedule: request.schedule }),
      ...(request.group === undefined ? {} : { group: request.group }),
    };
    if (request.bot === 'dependabot') return updateDependabotConfig(existing, request.tree, options);
    return updateRenovateConfig(existing, request.tree, { ...options, ...(request.pinDigests === undefined ? {} : { pinDigests: request.pinDigests }) });
  });
  const write = request.write && update.changed && update.problems.length === 0;
  if (write) await files.write(file, update.text);
  return { file, existed: existing !== undefined, update, written: write };
}

async function named<T>(file: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BotConfigError) throw new BotConfigError(`${file}: ${describeError(error)}`, { cause: error });
    throw error;
  }
}
