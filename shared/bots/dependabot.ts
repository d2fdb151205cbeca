import { Document, isMap, isScalar, isSeq, type Pair, parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';
import { BotConfigError, describeError } from '../errors.ts';
import { isRecord } from '../json.ts';
import { type BotSchedule, type ConfigUpdate, dockerfileDirectories, type ImagesTree, isInsideImages, sameJson } from './tree.ts';

/** Where Dependabot reads its configuration, from the repository root. */
export const DEPENDABOT_CONFIG_PATH = '.github/dependabot.yml';

/** `schedule.interval` values Dependabot accepts (its options reference, "schedule"). */
const DEPENDABOT_INTERVALS = ['daily', 'weekly', 'monthly', 'quarterly', 'semiannually', 'yearly', 'cron'] as const;

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const MANAGED_COMMENT = ' Kept in sync with the images tree by `mirror dependabot`: one directory per Dockerfile.';
const NEW_FILE_COMMENT = ' Dependabot version updates (https://docs.github.com/code-security/dependabot).';

/** Choices for the docker entry; absent ones keep what the file says. */
export interface DependabotOptions {
  /** Interval of the docker entry; an existing entry keeps its own when absent, a new one gets weekly. */
  readonly schedule?: BotSchedule;
  /** Put every image update of the entry in one pull request group of this name. */
  readonly group?: string;
}

/**
 * Writes or updates the docker entry of a dependabot.yml so that it covers every Dockerfile directory of the
 * images tree, keeping every other entry, key and comment. Pure: text in, text out; unchanged input comes back
 * byte for byte. Throws BotConfigError when the existing text is not a dependabot.yml it can edit.
 */
export function updateDependabotConfig(existing: string | undefined, tree: ImagesTree, options: DependabotOptions = {}): ConfigUpdate {
  const directories = dockerfileDirectories(tree);
  if (directories.length === 0) throw new BotConfigError(`the images directory "/${tree.imagesDir}" holds no Dockerfile`);
  const fresh = existing === undefined || existing.trim() === '';
  const doc = fresh ? newDocument() : parseExisting(existing);
  const before = doc.toJS() as unknown;
  const changes: string[] = [];

  if (!doc.has('version')) doc.set('version', 2);
  let updates = doc.get('updates', true);
  if (updates === undefined || updates === null || (isScalar(updates) && updates.value === null)) {
    doc.set('updates', doc.createNode([]));
    updates = doc.get('updates', true);
  }
  if (!isSeq(updates)) throw new BotConfigError('"updates" is not a list');
  const seq = updates as YAMLSeq;

  const index = seq.items.findIndex((item) => isManagedEntry(item, tree.imagesDir));
  if (index === -1) {
    const entry = doc.createNode({
      'package-ecosystem': 'docker',
      directories,
      schedule: { interval: options.schedule ?? 'weekly' },
      ...(options.group === undefined ? {} : { groups: { [options.group]: { patterns: ['*'] } } }),
    }) as YAMLMap;
    entry.commentBefore = MANAGED_COMMENT;
    seq.items.push(entry);
    changes.push(`added a docker entry for ${directories.length} director${directories.length === 1 ? 'y' : 'ies'} below /${tree.imagesDir}, ${options.schedule ?? 'weekly'}`);
  } else {
    updateEntry(doc, seq.items[index] as YAMLMap, directories, options, changes);
  }

  if (!fresh && sameJson(before, doc.toJS())) return { text: existing, changed: false, changes: [], problems: validateDependabotConfig(before) };
  const text = doc.toString({ lineWidth: 0, indentSeq: fresh || indentsSequences(existing) });
  return { text, changed: true, changes, problems: validateDependabotConfig(doc.toJS()) };
}

/**
 * Checks a parsed dependabot.yml against the rules of Dependabot's options reference: `version: 2`, a non-empty
 * `updates` list, each entry with a `package-ecosystem`, exactly one of `directory` / `directories`, a
 * `schedule.interval` Dependabot knows, well-formed groups, and no ecosystem/directory/branch combination twice.
 */
export function validateDependabotConfig(config: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(config)) return ['the file is not a YAML mapping'];
  if (config.version !== 2) problems.push(`"version" must be 2, not ${JSON.stringify(config.version)}`);
  if (!Array.isArray(config.updates) || config.updates.length === 0) {
    problems.push('"updates" must be a non-empty list');
    return problems;
  }
  const seen = new Map<string, number>();
  config.updates.forEach((entry: unknown, i: number) => {
    const where = `updates[${i}]`;
    if (!isRecord(entry)) {
      problems.push(`${where} is not a mapping`);
      return;
    }
    const ecosystem = entry['package-ecosystem'];
    if (typeof ecosystem !== 'string' || ecosystem === '') problems.push(`${where}: "package-ecosystem" is required`);
    const hasOne = 'directory' in entry;
    const hasMany = 'directories' in entry;
    let dirs: string[] = [];
    if (hasOne === hasMany) problems.push(`${where}: exactly one of "directory" and "directories" is required`);
    if (hasOne) {
      if (typeof entry.directory !== 'string' || entry.directory === '') problems.push(`${where}: "directory" must be a non-empty string`);
      else dirs = [entry.directory];
    }
    if (hasMany) {
      const list = entry.directories;
      if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === 'string' && d !== '')) {
        problems.push(`${where}: "directories" must be a non-empty list of strings`);
      } else {
        dirs = list as string[];
        const twice = dirs.filter((d, j) => dirs.indexOf(d) !== j);
        if (twice.length > 0) problems.push(`${where}: "directories" lists ${twice.map((d) => `"${d}"`).join(', ')} more than once`);
      }
    }
    if (ecosystem === 'docker') {
      for (const dir of dirs.filter((d) => !d.startsWith('/'))) problems.push(`${where}: directory "${dir}" must start with "/" (from the repository root)`);
    }
    problems.push(...scheduleProblems(entry.schedule, where));
    problems.push(...groupProblems(entry.groups, where));
    const branch = typeof entry['target-branch'] === 'string' ? entry['target-branch'] : '';
    for (const dir of dirs) {
      const key = `${String(ecosystem)}\u0000${dir.replace(/\/+$/, '') || '/'}\u0000${branch}`;
      const first = seen.get(key);
      if (first !== undefined && first !== i) problems.push(`${where}: ${String(ecosystem)} directory "${dir}" is already covered by updates[${first}]`);
      else seen.set(key, i);
    }
  });
  return problems;
}

function newDocument(): Document {
  const doc = new Document({ version: 2, updates: [] });
  doc.commentBefore = NEW_FILE_COMMENT;
  return doc;
}

function parseExisting(text: string): Document {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) throw new BotConfigError(`not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`);
  if (!isMap(doc.contents)) throw new BotConfigError('the file is not a YAML mapping (version, updates, …)');
  try {
    doc.toJS();
  } catch (error) {
    throw new BotConfigError(`not valid YAML: ${describeError(error)}`, { cause: error });
  }
  return doc;
}

// Ours: the docker entry (for the default branch) whose every directory lies in the images tree.
function isManagedEntry(item: unknown, imagesDir: string): boolean {
  if (!isMap(item) || item.get('package-ecosystem') !== 'docker' || item.has('target-branch')) return false;
  const dirs = [item.get('directory'), ...((item.get('directories') as YAMLSeq | undefined)?.items ?? []).map((node) => (isScalar(node) ? node.value : node))];
  const strings = dirs.filter((dir): dir is string => typeof dir === 'string');
  return strings.length > 0 && strings.every((dir) => isInsideImages(dir, imagesDir));
}

function updateEntry(doc: Document, entry: YAMLMap, directories: string[], options: DependabotOptions, changes: string[]): void {
  const current = toStrings(entry.get('directories'));
  if (entry.has('directory')) {
    // Dependabot refuses an entry with both keys: the single directory becomes the list, in the same place.
    if (entry.has('directories')) {
      entry.delete('directory');
      entry.set('directories', doc.createNode(directories));
    } else {
      const pair = entry.items.find((item) => keyOf(item) === 'directory') as Pair;
      pair.key = doc.createNode('directories');
      pair.value = doc.createNode(directories);
    }
    changes.push(`replaced "directory" by "directories" (${directories.length})`);
  } else if (!sameJson(current, directories)) {
    entry.set('directories', doc.createNode(directories));
    const added = directories.filter((dir) => !current.includes(dir));
    const removed = current.filter((dir) => !directories.includes(dir));
    changes.push(...added.map((dir) => `+ ${dir}`), ...removed.map((dir) => `- ${dir}`));
  }

  const interval = entry.getIn(['schedule', 'interval']);
  const wanted = options.schedule ?? (interval === undefined ? 'weekly' : undefined);
  if (wanted !== undefined && interval !== wanted) {
    if (!isMap(entry.get('schedule', true))) entry.set('schedule', doc.createNode({}));
    const schedule = entry.get('schedule', true) as unknown as YAMLMap;
    schedule.set('interval', wanted);
    // A day belongs to weekly updates only, a cron job to cron ones.
    if (wanted !== 'weekly') schedule.delete('day');
    schedule.delete('cronjob');
    changes.push(`schedule: ${String(interval ?? 'none')} → ${wanted}`);
  }

  if (options.group !== undefined && entry.getIn(['groups', options.group]) === undefined) {
    if (!isMap(entry.get('groups', true))) entry.set('groups', doc.createNode({}));
    (entry.get('groups', true) as unknown as YAMLMap).set(options.group, doc.createNode({ patterns: ['*'] }));
    changes.push(`added group "${options.group}" (every image)`);
  }
}

function scheduleProblems(schedule: unknown, where: string): string[] {
  if (!isRecord(schedule)) return [`${where}: "schedule.interval" is required`];
  const interval = schedule.interval;
  if (typeof interval !== 'string' || !(DEPENDABOT_INTERVALS as readonly string[]).includes(interval)) {
    return [`${where}: "schedule.interval" must be one of ${DEPENDABOT_INTERVALS.join(', ')}, not ${JSON.stringify(interval)}`];
  }
  const problems: string[] = [];
  if (interval === 'cron' && (typeof schedule.cronjob !== 'string' || schedule.cronjob.trim() === '')) problems.push(`${where}: "schedule.cronjob" is required with interval cron`);
  if (schedule.day !== undefined && (typeof schedule.day !== 'string' || !WEEKDAYS.includes(schedule.day.toLowerCase()))) problems.push(`${where}: "schedule.day" must be a day of the week`);
  if (schedule.time !== undefined && (typeof schedule.time !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(schedule.time))) problems.push(`${where}: "schedule.time" must be hh:mm`);
  return problems;
}

function groupProblems(groups: unknown, where: string): string[] {
  if (groups === undefined) return [];
  if (!isRecord(groups)) return [`${where}: "groups" must be a mapping of group names`];
  const problems: string[] = [];
  for (const [name, group] of Object.entries(groups)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) problems.push(`${where}: group name "${name}" may only hold letters, digits, "-", "_" and "."`);
    const selectors = ['patterns', 'exclude-patterns', 'dependency-type', 'update-types'];
    if (!isRecord(group) || !selectors.some((key) => key in group)) {
      problems.push(`${where}: group "${name}" needs at least one of ${selectors.join(', ')}`);
      continue;
    }
    for (const key of ['patterns', 'exclude-patterns', 'update-types']) {
      const list = group[key];
      if (list !== undefined && (!Array.isArray(list) || !list.every((p) => typeof p === 'string'))) problems.push(`${where}: group "${name}": "${key}" must be a list of strings`);
    }
  }
  return problems;
}

function toStrings(node: unknown): string[] {
  if (!isSeq(node)) return [];
  return node.items.map((item) => (isScalar(item) ? String(item.value) : String(item)));
}

function keyOf(item: unknown): unknown {
  const key = (item as Pair).key;
  return isScalar(key) ? key.value : key;
}

// Keep the file's own list style: "updates:\n  - x" (indented) or "updates:\n- x".
function indentsSequences(text: string): boolean {
  const match = /^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\n(?: *#[^\n]*\n)*( *)- /m.exec(text);
  return match === null || (match[2] ?? '').length > (match[1] ?? '').length;
}
