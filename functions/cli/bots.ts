import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type Command, Option } from '@commander-js/extra-typings';
import { type Bot, configureBot } from '../../shared/bots/configure.ts';
import { DEPENDABOT_CONFIG_PATH } from '../../shared/bots/dependabot.ts';
import { BOT_SCHEDULES, type ImagesTree } from '../../shared/bots/tree.ts';
import { BotConfigError, describeError, UsageError } from '../../shared/errors.ts';
import { isDirectoryEntry } from '../../shared/plan/plan.ts';
import { safeMessage } from '../../shared/safe-text.ts';
import { imagesDirectory, repositoryFiles } from '../../shared/wiring/cli.ts';

/** What the bot commands write to and where they stand (the CLI's io). */
interface BotIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
}

interface BotOptions {
  readonly images: string;
  readonly repoRoot?: string;
  readonly schedule?: (typeof BOT_SCHEDULES)[number];
  readonly group?: string;
  readonly pinDigests?: boolean;
  readonly dryRun?: true;
  readonly check?: true;
}

const BOT_NAMES: Record<Bot, string> = { dependabot: 'Dependabot', renovate: 'Renovate' };

/** Adds `mirror dependabot` and `mirror renovate`: bot configuration generated from the images tree; `done(false)` means exit 1. */
export function addBotCommands(program: Command, io: BotIo, done: (ok: boolean) => void): void {
  botCommand(program.command('dependabot'), 'default for a new docker entry: weekly; an existing entry keeps its own')
    .description(`write or update ${DEPENDABOT_CONFIG_PATH}: a docker entry listing every Dockerfile directory of the images tree; other entries are kept`)
    .action(async (options) => done(await runBot('dependabot', options, io)));
  botCommand(program.command('renovate'), 'written in cron as by Renovate\'s schedule: presets; default for a new rule: weekly, "* 0-3 * * 1", unless the file schedules every update itself; an existing rule keeps its own')
    .description('write or update the Renovate configuration (renovate.json, or the JSON file Renovate already reads): the dockerfile manager over the images tree ("fileMatch", read by Renovate 39 and migrated by 40.2+); other keys are kept')
    .option('--pin-digests', 'pin every image of the tree to its digest (a packageRule with "pinDigests": true)')
    .option('--no-pin-digests', 'stop pinning digests in that packageRule')
    .action(async (options) => done(await runBot('renovate', options, io)));
}

// scheduleHelp says what each bot's file gets, so that the help matches what is written.
function botCommand<Args extends unknown[]>(command: Command<Args>, scheduleHelp: string) {
  return command
    .requiredOption('--images <dir>', 'the images tree, inside the repository')
    .option('--repo-root <dir>', 'the repository root (default: the git top level of --images, else the current directory)')
    .addOption(new Option('--schedule <interval>', `how often the bot looks for new tags (${scheduleHelp})`).choices(BOT_SCHEDULES))
    .option('--group <name>', 'put every image update in one pull request of this group name')
    .option('--dry-run', 'print the changes and the new file; write nothing')
    .option('--check', 'write nothing; exit 1 when the file is not up to date with the tree (for CI)');
}

async function runBot(bot: Bot, options: BotOptions, io: BotIo): Promise<boolean> {
  if (options.group !== undefined && !/^[A-Za-z0-9_.-]+$/.test(options.group)) {
    throw new UsageError(`--group: "${options.group}" may only hold letters, digits, "-", "_" and "."`);
  }
  const files = repositoryFiles();
  const images = await realDirectory(options.images, '--images', io.cwd);
  const root = await realDirectory(options.repoRoot ?? (await files.topLevel(images)) ?? io.cwd, '--repo-root', io.cwd);
  const fromRoot = relative(root, images);
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) throw new UsageError(`--images: "${options.images}" is not inside the repository root "${root}" (see --repo-root)`);
  // Dockerfiles only: not a linked directory the reader passed over, nor a directory it could not read.
  const dockerfiles = (await imagesDirectory(images).list()).filter((entry) => entry.warning === undefined && !isDirectoryEntry(entry)).map((entry) => entry.path);
  const tree: ImagesTree = { imagesDir: fromRoot.split(sep).join('/'), dockerfiles };

  const display = (path: string) => displayPath(path, io.cwd);
  let run;
  try {
    run = await configureBot(
      {
        bot,
        root,
        tree,
        write: !options.check && !options.dryRun,
        display,
        ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
        ...(options.group === undefined ? {} : { group: options.group }),
        ...(bot === 'renovate' && options.pinDigests !== undefined ? { pinDigests: options.pinDigests } : {}),
      },
      files,
    );
  } catch (error) {
    if (error instanceof BotConfigError) throw new UsageError(describeError(error), { cause: error });
    throw error;
  }
  const { update } = run;
  const shown = display(run.file);
  if (update.problems.length > 0) {
    io.stderr(`mirror: ${BOT_NAMES[bot]} would refuse ${shown}${update.changed ? ' as updated' : ''}; nothing written:\n${update.problems.map((p) => `  ${safeMessage(p)}\n`).join('')}`);
    return false;
  }
  if (!update.changed) {
    io.stdout(`${shown}: up to date with ${tree.imagesDir || '.'}/ (${tree.dockerfiles.length} Dockerfile${tree.dockerfiles.length === 1 ? '' : 's'})\n`);
    return true;
  }
  const verb = options.check ? 'out of date' : options.dryRun ? 'would change (dry run, nothing written)' : run.existed ? 'updated' : 'created';
  // Changes name the tree's directories, problems quote the existing file: both are outside text.
  const out = [`${shown}: ${verb}`, ...update.changes.map((change) => `  ${safeMessage(change)}`)];
  if (options.dryRun && !options.check) out.push('', `--- ${shown}`, update.text.trimEnd());
  io.stdout(`${out.join('\n')}\n`);
  return !options.check;
}

// Relative to where the user stands when that is shorter, absolute otherwise.
function displayPath(path: string, cwd: string): string {
  const fromHere = relative(cwd, path);
  return fromHere === '' ? '.' : fromHere.startsWith('..') || isAbsolute(fromHere) ? path : fromHere;
}

async function realDirectory(path: string, option: string, cwd: string): Promise<string> {
  const absolute = resolve(cwd, path);
  const found = await stat(absolute).catch(() => undefined);
  if (!found?.isDirectory()) throw new UsageError(`${option}: "${path}" is not a directory`);
  return realpath(absolute);
}
