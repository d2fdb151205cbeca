import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type Command, Option } from 'commander';
import { BotConfigError, describeError, UsageError } from '../../shared/errors.ts';
import { DEPENDABOT_CONFIG_PATH, updateDependabotConfig } from '../../shared/bots/dependabot.ts';
import { updateRenovateConfig } from '../../shared/bots/renovate.ts';
import { gitTopLevel, locateRenovateConfig, readTextIfExists, writeTextFile } from '../../shared/bots/repo-files.ts';
import { BOT_SCHEDULES, type BotSchedule, type ConfigUpdate, type ImagesTree } from '../../shared/bots/tree.ts';
import { LocalDockerfileSource } from '../../shared/source/local-dir.ts';
import { EXIT_FAILED, EXIT_OK } from './usage.ts';

type Bot = 'dependabot' | 'renovate';

interface BotOptions {
  images: string;
  repoRoot?: string;
  schedule?: BotSchedule;
  group?: string;
  pinDigests?: boolean;
  dryRun?: boolean;
  check?: boolean;
}

const BOT_NAMES: Record<Bot, string> = { dependabot: 'Dependabot', renovate: 'Renovate' };

/** Adds `mirror dependabot` and `mirror renovate`: bot configuration generated from the images tree. */
export function addBotCommands(program: Command, setExit: (code: number) => void): void {
  botCommand(program.command('dependabot'))
    .description(`write or update ${DEPENDABOT_CONFIG_PATH}: a docker entry listing every Dockerfile directory of the images tree; other entries are kept`)
    .action(async (options: BotOptions) => setExit(await configureBot('dependabot', options)));
  botCommand(program.command('renovate'))
    .description('write or update the Renovate configuration (renovate.json, or the JSON file Renovate already reads): the dockerfile manager over the images tree; other keys are kept')
    .option('--pin-digests', 'pin every image of the tree to its digest (a packageRule with "pinDigests": true)')
    .option('--no-pin-digests', 'stop pinning digests in that packageRule')
    .action(async (options: BotOptions) => setExit(await configureBot('renovate', options)));
}

function botCommand(command: Command): Command {
  return command
    .requiredOption('--images <dir>', 'the images tree, inside the repository')
    .option('--repo-root <dir>', 'the repository root (default: the git top level of --images, else the current directory)')
    .addOption(new Option('--schedule <interval>', 'how often the bot looks for new tags (default for a new entry: weekly; an existing one keeps its own)').choices(BOT_SCHEDULES))
    .option('--group <name>', 'put every image update in one pull request of this group name')
    .option('--dry-run', 'print the changes and the new file; write nothing')
    .option('--check', 'write nothing; exit 1 when the file is not up to date with the tree (for CI)');
}

async function configureBot(bot: Bot, options: BotOptions): Promise<number> {
  if (options.group !== undefined && !/^[A-Za-z0-9_.-]+$/.test(options.group)) {
    throw new UsageError(`--group: "${options.group}" may only hold letters, digits, "-", "_" and "."`);
  }
  const images = await realDirectory(options.images, '--images');
  const root = await realDirectory(options.repoRoot ?? (await gitTopLevel(images)) ?? process.cwd(), '--repo-root');
  const fromRoot = relative(root, images);
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) throw new UsageError(`--images: "${options.images}" is not inside the repository root "${root}" (see --repo-root)`);
  const tree: ImagesTree = { imagesDir: fromRoot.split(sep).join('/'), dockerfiles: (await new LocalDockerfileSource(images).list()).map((entry) => entry.path) };

  const file = bot === 'dependabot' ? join(root, DEPENDABOT_CONFIG_PATH) : await wrap(() => locateRenovateConfig(root), displayPath(root));
  const shown = displayPath(file);
  const existing = await readTextIfExists(file);
  const update: ConfigUpdate = await wrap(async () => {
    if (bot === 'dependabot') return updateDependabotConfig(existing, tree, { ...pick(options, 'schedule', 'group') });
    return updateRenovateConfig(existing, tree, { ...pick(options, 'schedule', 'group', 'pinDigests') });
  }, shown);

  const out: string[] = [];
  if (update.problems.length > 0) {
    process.stderr.write(`mirror: ${BOT_NAMES[bot]} would refuse ${shown}${update.changed ? ' as updated' : ''}; nothing written:\n${update.problems.map((p) => `  ${p}\n`).join('')}`);
    return EXIT_FAILED;
  }
  if (!update.changed) {
    process.stdout.write(`${shown}: up to date with ${tree.imagesDir || '.'}/ (${tree.dockerfiles.length} Dockerfile${tree.dockerfiles.length === 1 ? '' : 's'})\n`);
    return EXIT_OK;
  }
  const verb = options.check ? 'out of date' : options.dryRun ? 'would change (dry run, nothing written)' : existing === undefined ? 'created' : 'updated';
  out.push(`${shown}: ${verb}`, ...update.changes.map((change) => `  ${change}`));
  if (options.dryRun && !options.check) out.push('', `--- ${shown}`, update.text.trimEnd());
  if (!options.check && !options.dryRun) await writeTextFile(file, update.text);
  process.stdout.write(`${out.join('\n')}\n`);
  return options.check ? EXIT_FAILED : EXIT_OK;
}

// Relative to where the user stands when that is shorter, absolute otherwise.
function displayPath(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere === '' ? '.' : fromHere.startsWith('..') || isAbsolute(fromHere) ? path : fromHere;
}

async function realDirectory(path: string, option: string): Promise<string> {
  const found = await stat(path).catch(() => undefined);
  if (!found?.isDirectory()) throw new UsageError(`${option}: "${path}" is not a directory`);
  return realpath(resolve(path));
}

async function wrap<T>(work: () => Promise<T>, file: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BotConfigError) throw new UsageError(`${file}: ${describeError(error)}`, { cause: error });
    throw error;
  }
}

function pick<K extends keyof BotOptions>(options: BotOptions, ...keys: K[]): Partial<Pick<BotOptions, K>> {
  const out: Partial<Pick<BotOptions, K>> = {};
  for (const key of keys) if (options[key] !== undefined) out[key] = options[key];
  return out;
}
