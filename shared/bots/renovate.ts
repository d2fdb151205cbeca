import { BotConfigError, describeError } from '../errors.ts';
import { isRecord } from '../json.ts';
import { type BotSchedule, type ConfigUpdate, type ImagesTree, repositoryPaths, sameJson } from './tree.ts';

/** Renovate's configuration files, in the order Renovate looks for them; it reads the first one found. */
export const RENOVATE_CONFIG_FILES = [
  'renovate.json',
  'renovate.json5',
  '.github/renovate.json',
  '.github/renovate.json5',
  '.gitlab/renovate.json',
  '.gitlab/renovate.json5',
  '.renovaterc',
  '.renovaterc.json',
  '.renovaterc.json5',
] as const;

/** The JSON schema a new renovate.json names, for editors. */
const RENOVATE_SCHEMA = 'https://docs.renovatebot.com/renovate-schema.json';

/** Renovate's default `ignorePaths`, and those of its `:ignoreModulesAndTests` preset (part of `config:recommended`). */
const RENOVATE_DEFAULT_IGNORE_PATHS = ['**/node_modules/**', '**/bower_components/**'] as const;
const RENOVATE_MODULES_AND_TESTS_IGNORE_PATHS = ['**/node_modules/**', '**/bower_components/**', '**/vendor/**', '**/examples/**', '**/__tests__/**', '**/test/**', '**/tests/**', '**/__fixtures__/**'] as const;
const PRESETS_IGNORING_TESTS = ['config:recommended', 'config:best-practices', ':ignoreModulesAndTests', 'config:base'];

/**
 * Renovate schedules matching Dependabot's intervals: the cron values of its `schedule:daily|weekly|monthly` presets
 * (the same in 39.x and today). Cron, not the Later text ("before 4am on monday") that Renovate has deprecated:
 * https://docs.renovatebot.com/key-concepts/scheduling/#deprecated-breejslater-syntax
 */
const RENOVATE_SCHEDULES: Readonly<Record<BotSchedule, readonly string[]>> = {
  daily: ['* 0-3 * * *'],
  weekly: ['* 0-3 * * 1'],
  monthly: ['* 0-3 1 * *'],
};
/** What a new packageRule gets without --schedule, as for a new Dependabot entry (Renovate's own default: any time). */
const DEFAULT_SCHEDULE: BotSchedule = 'weekly';

const RULE_DESCRIPTION = 'image-mirror: the images tree (kept by `mirror renovate`)';

/** Choices for the images tree's packageRule; absent ones keep what the file says. */
export interface RenovateOptions {
  /** A new rule gets weekly when absent, unless the file schedules every update itself; an existing rule keeps its own. */
  readonly schedule?: BotSchedule;
  readonly group?: string;
  /** true pins every image to its digest, false stops pinning; absent leaves the setting alone. */
  readonly pinDigests?: boolean;
}

/**
 * The dockerfile manager's `fileMatch` entry (a regular expression over repository paths) for the tree's Dockerfiles:
 * `^images/.+/Dockerfile$`. `fileMatch`, because Renovate before 40.2.0 (39.x is the last line that runs on Node 20,
 * as self-hosted Renovate often does) refuses its new name: "Invalid configuration option:
 * dockerfile.managerFilePatterns". Renovate 40.2.0 and later renamed it and migrate the old name by themselves to
 * `managerFilePatterns: ["/…/"]`: "Formerly known as fileMatch … Any existing config containing fileMatch patterns
 * will be automatically migrated" (https://docs.renovatebot.com/configuration-options/#managerfilepatterns,
 * renovatebot/renovate#34427). scripts/check-renovate.sh runs Renovate 39.264.1 and 44.121.2 (on Node 24) on what this writes.
 */
export function dockerfilePattern(imagesDir: string): string {
  return imagesDir === '' ? '^.+/Dockerfile$' : `^${escapeRegex(imagesDir)}/.+/Dockerfile$`;
}

/**
 * Writes or updates a Renovate JSON configuration so that the dockerfile manager covers the images tree, keeping
 * every other key. Pure; unchanged input comes back byte for byte. Throws BotConfigError for text that is not a
 * JSON object.
 */
export function updateRenovateConfig(existing: string | undefined, tree: ImagesTree, options: RenovateOptions = {}): ConfigUpdate {
  const fresh = existing === undefined || existing.trim() === '';
  const before: Record<string, unknown> = fresh ? {} : parseExisting(existing);
  const config = structuredClone(before);
  const changes: string[] = [];
  if (repositoryPaths(tree).length === 0) throw new BotConfigError(`the images directory "/${tree.imagesDir}" holds no Dockerfile`);

  if (fresh) {
    config.$schema = RENOVATE_SCHEMA;
    // A new file is for the images repository: only Dockerfiles to update. An existing file without the key
    // keeps every manager enabled, dockerfile included; adding the key would switch the others off.
    config.enabledManagers = ['dockerfile'];
  } else if (Array.isArray(config.enabledManagers) && !config.enabledManagers.includes('dockerfile')) {
    config.enabledManagers = [...config.enabledManagers, 'dockerfile'];
    changes.push('enabledManagers: + dockerfile');
  }

  const manager = isRecord(config.dockerfile) ? config.dockerfile : {};
  if (manager.enabled === false) {
    delete manager.enabled;
    changes.push('dockerfile: removed "enabled": false');
  }
  const pattern = dockerfilePattern(tree.imagesDir);
  if (!asList(manager.fileMatch).includes(pattern) && !asList(manager.managerFilePatterns).includes(`/${pattern}/`)) {
    // A file already on the new name stays on it (only Renovate 40.2.0 and later read it); others get the old one.
    const key = Array.isArray(manager.managerFilePatterns) ? 'managerFilePatterns' : 'fileMatch';
    const entry = key === 'fileMatch' ? pattern : `/${pattern}/`;
    manager[key] = [...asList(manager[key]), entry];
    changes.push(`dockerfile.${key}: + ${entry}`);
  }
  config.dockerfile = manager;

  const rules = Array.isArray(config.packageRules) ? (config.packageRules as unknown[]) : [];
  const files = `${tree.imagesDir === '' ? '' : `${tree.imagesDir}/`}**`;
  const rule = rules.find((candidate) => isRecord(candidate) && sameJson(candidate.matchManagers, ['dockerfile']) && sameJson(candidate.matchFileNames, [files]));
  // Like a new Dependabot entry, a new rule is weekly unless the file schedules every update itself; a rule keeps its own.
  const schedule = options.schedule ?? (rule === undefined && !schedulesItself(config) ? DEFAULT_SCHEDULE : undefined);
  const wanted: Record<string, unknown> = {
    ...(schedule === undefined ? {} : { schedule: [...RENOVATE_SCHEDULES[schedule]] }),
    ...(options.group === undefined ? {} : { groupName: options.group }),
    ...(options.pinDigests === undefined ? {} : { pinDigests: options.pinDigests }),
  };
  if (isRecord(rule)) {
    for (const [key, value] of Object.entries(wanted)) {
      if (sameJson(rule[key], value)) continue;
      rule[key] = value;
      changes.push(`packageRules (${files}): ${key} = ${JSON.stringify(value)}`);
    }
  } else if (Object.keys(wanted).length > 0) {
    rules.push({ description: RULE_DESCRIPTION, matchManagers: ['dockerfile'], matchDatasources: ['docker'], matchFileNames: [files], ...wanted });
    config.packageRules = rules;
    changes.push(`packageRules: + a rule for ${files} (${Object.entries(wanted).map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(', ')})`);
  }

  if (!fresh && sameJson(before, config)) return { text: existing, changed: false, changes: [], problems: validateRenovateConfig(before, tree) };
  const text = `${JSON.stringify(config, null, fresh ? 2 : indentOf(existing))}\n`;
  return { text, changed: true, changes, problems: validateRenovateConfig(config, tree) };
}

/**
 * Checks a parsed Renovate configuration against the parts of Renovate's schema this tool relies on, and (given
 * the tree) that no `ignorePaths` hides its Dockerfiles.
 */
export function validateRenovateConfig(config: unknown, tree?: ImagesTree): string[] {
  if (!isRecord(config)) return ['the configuration is not a JSON object'];
  const problems: string[] = [];
  if (config.$schema !== undefined && typeof config.$schema !== 'string') problems.push('"$schema" must be a string');
  const enabled = config.enabledManagers;
  if (enabled !== undefined) {
    if (!isStringList(enabled)) problems.push('"enabledManagers" must be a list of manager names');
    else if (!enabled.includes('dockerfile')) problems.push('"enabledManagers" leaves out dockerfile: no Dockerfile is updated');
  }
  const manager = config.dockerfile;
  if (manager !== undefined) {
    if (!isRecord(manager)) problems.push('"dockerfile" must be an object');
    else {
      if (manager.enabled === false) problems.push('"dockerfile.enabled" is false: no Dockerfile is updated');
      if (manager.fileMatch !== undefined) {
        // Renovate reads a lone string too.
        if (typeof manager.fileMatch !== 'string' && !isStringList(manager.fileMatch)) problems.push('"dockerfile.fileMatch" must be a list of strings');
        else compilePatterns('fileMatch', asList(manager.fileMatch) as string[], problems);
      }
      if (manager.managerFilePatterns !== undefined) {
        if (!isStringList(manager.managerFilePatterns)) problems.push('"dockerfile.managerFilePatterns" must be a list of strings');
        else compilePatterns('managerFilePatterns', manager.managerFilePatterns, problems);
      }
    }
  }
  const rules = config.packageRules;
  if (rules !== undefined) {
    if (!Array.isArray(rules)) problems.push('"packageRules" must be a list');
    else {
      rules.forEach((rule: unknown, i: number) => {
        const where = `packageRules[${i}]`;
        if (!isRecord(rule)) return problems.push(`${where} must be an object`);
        if (!Object.keys(rule).some((key) => key.startsWith('match') || key.startsWith('exclude'))) problems.push(`${where} needs at least one match… selector`);
        if (rule.pinDigests !== undefined && typeof rule.pinDigests !== 'boolean') problems.push(`${where}: "pinDigests" must be true or false`);
        if (rule.schedule !== undefined && !isStringList(rule.schedule)) problems.push(`${where}: "schedule" must be a list of strings`);
        if (rule.groupName !== undefined && (typeof rule.groupName !== 'string' || rule.groupName === '')) problems.push(`${where}: "groupName" must be a non-empty string`);
        return undefined;
      });
    }
  }
  if (tree !== undefined) {
    // Managers' patterns are additive (Dockerfile is always matched), but ignorePaths can hide the whole tree.
    const ignored = ignorePathsOf(config);
    const hidden = repositoryPaths(tree).filter((path) => ignored.some((glob) => globToRegExp(glob).test(path)));
    if (hidden.length > 0) {
      problems.push(`ignorePaths (${ignored.map((g) => `"${g}"`).join(', ')}) hide ${hidden.slice(0, 3).map((p) => `"${p}"`).join(', ')}${hidden.length > 3 ? ` and ${hidden.length - 3} more` : ''}`);
    }
  }
  return problems;
}

function parseExisting(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new BotConfigError(`not valid JSON: ${describeError(error)}`, { cause: error });
  }
  if (!isRecord(parsed)) throw new BotConfigError('the configuration is not a JSON object');
  return parsed;
}

// managerFilePatterns: Renovate reads "/…/" (optionally "/…/i") as a regular expression, anything else as a glob; the
// regular ones must compile. fileMatch: every entry is a regular expression, without slashes.
function compilePatterns(key: 'managerFilePatterns' | 'fileMatch', patterns: readonly string[], problems: string[]): void {
  for (const pattern of patterns) {
    const match = key === 'fileMatch' ? [pattern, pattern, ''] : /^\/(.+)\/(i?)$/.exec(pattern);
    if (!match) continue;
    try {
      new RegExp(match[1] as string, match[2]);
    } catch (error) {
      problems.push(`${key} entry ${JSON.stringify(pattern)} is not a valid regular expression: ${describeError(error)}`);
    }
  }
}

// The file's own ignorePaths replace what presets set (an array option is not merged); presets are known by name only.
function ignorePathsOf(config: Record<string, unknown>): readonly string[] {
  if (isStringList(config.ignorePaths)) return config.ignorePaths;
  const presets = isStringList(config.extends) ? config.extends : [];
  return presets.some((preset) => PRESETS_IGNORING_TESTS.includes(preset)) ? RENOVATE_MODULES_AND_TESTS_IGNORE_PATHS : RENOVATE_DEFAULT_IGNORE_PATHS;
}

// The subset of minimatch that ignorePaths use: "**" across directories, "*" and "?" within one.
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i += 1) {
    const rest = glob.slice(i);
    if (rest.startsWith('**/')) {
      out += '(?:.*/)?';
      i += 2;
    } else if (rest.startsWith('**')) {
      out += '.*';
      i += 1;
    } else if (glob[i] === '*') out += '[^/]*';
    else if (glob[i] === '?') out += '[^/]';
    else out += escapeRegex(glob[i] as string);
  }
  return new RegExp(`^${out}$`);
}

// True when the file sets when every update may run: a top-level schedule, or a schedule: preset.
function schedulesItself(config: Record<string, unknown>): boolean {
  const presets = isStringList(config.extends) ? config.extends : [];
  return config.schedule !== undefined || presets.some((preset) => preset.startsWith('schedule:'));
}

// A pattern option as a list: Renovate also reads a lone string.
function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Keep the file's own indentation (two spaces, four, a tab).
function indentOf(text: string): string | number {
  const match = /^\{\s*?\n([ \t]+)"/.exec(text.replace(/^\uFEFF/, ''));
  return match?.[1] ?? 2;
}
