import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type DependabotOptions, updateDependabotConfig, validateDependabotConfig } from '../../../shared/bots/dependabot.ts';
import { type ImagesTree } from '../../../shared/bots/tree.ts';
import { BotConfigError } from '../../../shared/errors.ts';

const tree: ImagesTree = {
  imagesDir: 'images',
  dockerfiles: ['quay.io/prometheus/node-exporter/Dockerfile', 'docker.io/library/postgres/Dockerfile', 'docker.io/library/redis/Dockerfile'],
};
const DIRS = ['/images/docker.io/library/postgres', '/images/docker.io/library/redis', '/images/quay.io/prometheus/node-exporter'];

// A hand-written file with other ecosystems, a registry, comments and a non-indented list style.
const TEAM_FILE = `# Bots of the team.
version: 2
registries:
  dockerhub:
    type: docker-registry
    url: https://registry.hub.docker.com
    username: octocat
    password: \${{secrets.DOCKERHUB_PASSWORD}}
updates:
- package-ecosystem: "npm" # the app
  directory: "/"
  schedule:
    interval: "weekly"
    day: "monday"
- package-ecosystem: "github-actions"
  directory: "/"
  schedule:
    interval: "monthly"
- package-ecosystem: "docker" # the app's own image, not the mirror's
  directory: "/"
  schedule:
    interval: "daily"
`;

interface Entry {
  'package-ecosystem': string;
  directory?: string;
  directories?: string[];
  schedule: { interval: string; day?: string };
  groups?: Record<string, { patterns: string[] }>;
  'target-branch'?: string;
}
const parsed = (text: string) => parse(text) as { version: number; registries?: unknown; updates: Entry[] };
const ours = (text: string) => parsed(text).updates.filter((u) => u['package-ecosystem'] === 'docker' && u.directories !== undefined);

describe('updateDependabotConfig', () => {
  it('writes a new file Dependabot accepts: version 2, the docker ecosystem over every Dockerfile directory, weekly', () => {
    const update = updateDependabotConfig(undefined, tree);
    expect(update.changed).toBe(true);
    expect(update.problems).toEqual([]);
    expect(parsed(update.text)).toEqual({ version: 2, updates: [{ 'package-ecosystem': 'docker', directories: DIRS, schedule: { interval: 'weekly' } }] });
    expect(validateDependabotConfig(parse(update.text))).toEqual([]);
  });

  it.each([
    ['a new file', undefined],
    ['the team file', TEAM_FILE],
  ])('changes nothing, byte for byte, when rerun on %s', (_, start) => {
    const first = updateDependabotConfig(start, tree, { schedule: 'daily', group: 'images' });
    const second = updateDependabotConfig(first.text, tree, { schedule: 'daily', group: 'images' });
    expect(second).toEqual({ text: first.text, changed: false, changes: [], problems: [] });
    expect(updateDependabotConfig(first.text, tree).text).toBe(first.text);
  });

  it('keeps other ecosystems, other docker entries, registries and comments', () => {
    const update = updateDependabotConfig(TEAM_FILE, tree, { group: 'images' });
    const before = parsed(TEAM_FILE);
    const after = parsed(update.text);
    expect(after.registries).toEqual(before.registries);
    expect(after.updates.slice(0, 3)).toEqual(before.updates);
    expect(after.updates[3]).toEqual({ 'package-ecosystem': 'docker', directories: DIRS, schedule: { interval: 'weekly' }, groups: { images: { patterns: ['*'] } } });
    expect(update.text).toContain('# Bots of the team.');
    expect(update.text).toContain('# the app');
    expect(update.text).toContain('password: ${{secrets.DOCKERHUB_PASSWORD}}');
    // The file's own list style stays: "- " at the level of "updates:".
    expect(update.text).toMatch(/^updates:\n- package-ecosystem: "npm"/m);
    expect(update.problems).toEqual([]);
  });

  it('follows the tree: adds new directories and drops deleted ones in the entry it wrote', () => {
    const first = updateDependabotConfig(TEAM_FILE, tree).text;
    const moved: ImagesTree = { imagesDir: 'images', dockerfiles: ['docker.io/library/postgres/Dockerfile', 'ghcr.io/hadolint/hadolint/Dockerfile'] };
    const update = updateDependabotConfig(first, moved);
    expect(update.changes).toEqual(['+ /images/ghcr.io/hadolint/hadolint', '- /images/docker.io/library/redis', '- /images/quay.io/prometheus/node-exporter']);
    expect(ours(update.text).map((u) => u.directories)).toEqual([['/images/docker.io/library/postgres', '/images/ghcr.io/hadolint/hadolint']]);
    expect(parsed(update.text).updates).toHaveLength(4);
  });

  it.each<[string, string, DependabotOptions, Partial<Entry>, string[]]>([
    [
      'turns a single "directory" below the images into the list',
      'version: 2\nupdates:\n  - package-ecosystem: docker\n    directory: /images/docker.io/library/postgres\n    schedule:\n      interval: monthly\n',
      {},
      { directories: DIRS, schedule: { interval: 'monthly' } },
      ['replaced "directory" by "directories" (3)'],
    ],
    [
      'moves the interval when asked and drops a day that only weekly updates have',
      'version: 2\nupdates:\n  - package-ecosystem: docker\n    directories: [/images/docker.io/library/postgres, /images/docker.io/library/redis, /images/quay.io/prometheus/node-exporter]\n    schedule: {interval: weekly, day: friday}\n',
      { schedule: 'daily' },
      { schedule: { interval: 'daily' } },
      ['schedule: weekly → daily'],
    ],
    [
      'adds a group next to the groups already there',
      'version: 2\nupdates:\n  - package-ecosystem: docker\n    directories: [/images/docker.io/library/postgres, /images/docker.io/library/redis, /images/quay.io/prometheus/node-exporter]\n    schedule: {interval: weekly}\n    groups:\n      base: {patterns: [alpine]}\n',
      { group: 'images' },
      { groups: { base: { patterns: ['alpine'] }, images: { patterns: ['*'] } } },
      ['added group "images" (every image)'],
    ],
  ])('%s', (_, start, options, expected, changes) => {
    const update = updateDependabotConfig(start, tree, options);
    expect(update.changes).toEqual(changes);
    expect(ours(update.text)[0]).toMatchObject(expected);
    if (expected.schedule) expect(ours(update.text)[0]?.schedule).toEqual(expected.schedule);
    expect(ours(update.text)[0]).not.toHaveProperty('directory');
    expect(update.problems).toEqual([]);
  });

  it('leaves a docker entry for another branch alone and writes its own', () => {
    const start = 'version: 2\nupdates:\n  - package-ecosystem: docker\n    directory: /images/docker.io/library/postgres\n    target-branch: release\n    schedule:\n      interval: weekly\n';
    const after = parsed(updateDependabotConfig(start, tree).text);
    expect(after.updates[0]).toEqual(parsed(start).updates[0]);
    expect(after.updates[1]?.directories).toEqual(DIRS);
  });

  it('reports, and does not hide, a directory the team file already lists in another docker entry', () => {
    const start = 'version: 2\nupdates:\n  - package-ecosystem: docker\n    directories: ["/", "/images/docker.io/library/redis"]\n    schedule:\n      interval: weekly\n';
    expect(updateDependabotConfig(start, tree).problems).toEqual(['updates[1]: docker directory "/images/docker.io/library/redis" is already covered by updates[0]']);
  });

  it.each([
    ['text that is not YAML', 'version: 2\nupdates: [\n', /not valid YAML/],
    ['a list at the top', '- a\n- b\n', /not a YAML mapping/],
    ['updates that are not a list', 'version: 2\nupdates: {docker: true}\n', /"updates" is not a list/],
  ])('refuses %s', (_, start, message) => {
    expect(() => updateDependabotConfig(start, tree)).toThrow(BotConfigError);
    expect(() => updateDependabotConfig(start, tree)).toThrow(message);
  });

  it('refuses a tree without a Dockerfile', () => {
    expect(() => updateDependabotConfig(undefined, { imagesDir: 'images', dockerfiles: [] })).toThrow('the images directory "/images" holds no Dockerfile');
  });

  it('lists directories from the root when the images tree is the repository itself', () => {
    expect(ours(updateDependabotConfig(undefined, { imagesDir: '', dockerfiles: ['docker.io/library/postgres/Dockerfile'] }).text)[0]?.directories).toEqual(['/docker.io/library/postgres']);
  });
});

describe('validateDependabotConfig', () => {
  const valid = { 'package-ecosystem': 'docker', directories: ['/images/a'], schedule: { interval: 'weekly' } };
  it.each<[string, unknown, string[]]>([
    ['accepts a minimal valid file', { version: 2, updates: [valid] }, []],
    ['accepts every documented interval', { version: 2, updates: ['daily', 'monthly', 'quarterly', 'semiannually', 'yearly'].map((interval, i) => ({ ...valid, directories: [`/${i}`], schedule: { interval } })) }, []],
    ['wants version 2', { version: 1, updates: [valid] }, ['"version" must be 2, not 1']],
    ['wants updates', { version: 2 }, ['"updates" must be a non-empty list']],
    ['wants a package-ecosystem', { version: 2, updates: [{ ...valid, 'package-ecosystem': undefined }] }, ['updates[0]: "package-ecosystem" is required']],
    ['wants a directory', { version: 2, updates: [{ 'package-ecosystem': 'docker', schedule: { interval: 'weekly' } }] }, ['updates[0]: exactly one of "directory" and "directories" is required']],
    ['refuses both directory keys', { version: 2, updates: [{ ...valid, directory: '/' }] }, ['updates[0]: exactly one of "directory" and "directories" is required']],
    ['wants docker directories from the root', { version: 2, updates: [{ ...valid, directories: ['images/a'] }] }, ['updates[0]: directory "images/a" must start with "/" (from the repository root)']],
    ['wants a known interval', { version: 2, updates: [{ ...valid, schedule: { interval: 'hourly' } }] }, ['updates[0]: "schedule.interval" must be one of daily, weekly, monthly, quarterly, semiannually, yearly, cron, not "hourly"']],
    ['wants a cron job with cron', { version: 2, updates: [{ ...valid, schedule: { interval: 'cron' } }] }, ['updates[0]: "schedule.cronjob" is required with interval cron']],
    ['wants a schedule', { version: 2, updates: [{ ...valid, schedule: undefined }] }, ['updates[0]: "schedule.interval" is required']],
    ['wants groups with a selector', { version: 2, updates: [{ ...valid, groups: { images: {} } }] }, ['updates[0]: group "images" needs at least one of patterns, exclude-patterns, dependency-type, update-types']],
    ['refuses a directory listed twice', { version: 2, updates: [{ ...valid, directories: ['/a', '/a'] }] }, ['updates[0]: "directories" lists "/a" more than once']],
  ])('%s', (_, config, problems) => {
    expect(validateDependabotConfig(config)).toEqual(problems);
  });
});
