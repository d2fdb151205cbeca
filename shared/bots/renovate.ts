import { BotConfigError, describeError } from '../errors.ts';
import { type BotSchedule, type ConfigUpdate, type ImagesTree, isRecord, repositoryPaths, sameJson } from './tree.ts';

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

/** Renovate schedules matching Dependabot's intervals: its `schedule:daily|weekly|monthly` presets. */
const RENOVATE_SCHEDULES: Readonly<Record<BotSchedule, readonly string[]>> = {
  daily: ['before 4am'],
  weekly: ['before 4am on monday'],
  monthly: ['before 4am on the first day of the month'],
};

const RULE_DESCRIPTION = 'image-mirror: the images tree (kept by `mirror renovate`)';

/** Choices for the images tree's packageRule; absent ones keep what the file says. */
export interface RenovateOptions {
  readonly schedule?: BotSchedule;
  readonly group?: string;
  /** true pins every image to its digest, false stops pinning; absent leaves the setting alone. */
  readonly pinDigests?: boolean;
}

/** The `managerFilePatterns` entry matching the tree's Dockerfiles: `/^images/.+/Dockerfile$/`. */
export function dockerfilePattern(imagesDir: string): string {
  return imagesDir === '' ? '/^.+/Dockerfile$/' : `/^${escapeRegex(imagesDir)}/.+/Dockerfile$/`;
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
  const patterns = Array.isArray(manager.managerFilePatterns) ? (manager.managerFilePatterns as unknown[]) : [];
  if (!patterns.includes(pattern)) {
    manager.managerFilePatterns = [...patterns, pattern];
    changes.push(`dockerfile.managerFilePatterns: + ${pattern}`);
  }
  config.dockerfile = manager;

  const wanted: Record<string, unknown> = {
    ...(options.schedule === undefined ? {} : { schedule: [...RENOVATE_SCHEDULES[options.schedule]] }),
    ...(options.group === undefined ? {} : { groupName: options.group }),
    ...(options.pinDigests === undefined ? {} : { pinDigests: options.pinDigests }),
  };
  const rules = Array.isArray(config.packageRules) ? (config.packageRules as unknown[]) : [];
  const files = `${tree.imagesDir === '' ? '' : `${tree.imagesDir}/`}**`;
  const rule = rules.find((candidate) => isRecord(candidate) && sameJson(candidate.matchManagers, ['dockerfile']) && sameJson(candidate.matchFileNames, [files]));
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
      if (manager.managerFilePatterns !== undefined) {
        if (!isStringList(manager.managerFilePatterns)) problems.push('"dockerfile.managerFilePatterns" must be a list of strings');
        else compilePatterns(manager.managerFilePatterns, problems);
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

// Renovate reads "/…/" (optionally "/…/i") as a regular expression, anything else as a glob: the regular ones must compile.
function compilePatterns(patterns: readonly string[], problems: string[]): RegExp[] {
  const out: RegExp[] = [];
  for (const pattern of patterns) {
    const match = /^\/(.+)\/(i?)$/.exec(pattern);
    if (!match) continue;
    try {
      out.push(new RegExp(match[1] as string, match[2]));
    } catch (error) {
      problems.push(`managerFilePatterns entry ${JSON.stringify(pattern)} is not a valid regular expression: ${describeError(error)}`);
    }
  }
  return out;
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
