import { describe, expect, it } from 'vitest';
import { dockerfilePattern, type RenovateOptions, updateRenovateConfig, validateRenovateConfig } from '../../../shared/bots/renovate.ts';
import { type ImagesTree } from '../../../shared/bots/tree.ts';
import { BotConfigError } from '../../../shared/errors.ts';

const tree: ImagesTree = { imagesDir: 'images', dockerfiles: ['docker.io/library/postgres/Dockerfile', 'quay.io/prometheus/node-exporter/Dockerfile'] };

// A team's configuration: presets, npm rules, four-space indentation, no enabledManagers (every manager on).
const TEAM_FILE = `{
    "$schema": "https://docs.renovatebot.com/renovate-schema.json",
    "extends": ["config:recommended"],
    "timezone": "Europe/Paris",
    "packageRules": [
        { "matchManagers": ["npm"], "matchUpdateTypes": ["minor", "patch"], "automerge": true }
    ]
}
`;

type Config = Record<string, unknown> & { packageRules?: Record<string, unknown>[]; dockerfile?: Record<string, unknown> };
const parsed = (text: string) => JSON.parse(text) as Config;
const rule = (text: string) => parsed(text).packageRules?.find((r) => JSON.stringify(r.matchFileNames) === '["images/**"]');

// What Renovate does with a fileMatch entry: a regular expression over the repository path.
const matches = (pattern: string, path: string) => new RegExp(pattern).test(path);
const WEEKLY = ['* 0-3 * * 1'];

describe('updateRenovateConfig', () => {
  it('writes a new configuration: the dockerfile manager alone, over the images tree, weekly', () => {
    const update = updateRenovateConfig(undefined, tree);
    expect(update.problems).toEqual([]);
    expect(parsed(update.text)).toEqual({
      $schema: 'https://docs.renovatebot.com/renovate-schema.json',
      enabledManagers: ['dockerfile'],
      dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] },
      packageRules: [
        { description: 'image-mirror: the images tree (kept by `mirror renovate`)', matchManagers: ['dockerfile'], matchDatasources: ['docker'], matchFileNames: ['images/**'], schedule: WEEKLY },
      ],
    });
  });

  it.each<[string, RenovateOptions, Record<string, unknown>]>([
    ['schedules a new rule weekly without options', {}, { schedule: WEEKLY }],
    ['pins digests in a rule for the docker datasource', { pinDigests: true }, { matchManagers: ['dockerfile'], matchDatasources: ['docker'], matchFileNames: ['images/**'], pinDigests: true, schedule: WEEKLY }],
    ['schedules and groups the images', { schedule: 'monthly', group: 'mirror' }, { schedule: ['* 0-3 1 * *'], groupName: 'mirror' }],
    ['schedules daily', { schedule: 'daily' }, { schedule: ['* 0-3 * * *'] }],
  ])('%s', (_, options, expected) => {
    const update = updateRenovateConfig(undefined, tree, options);
    expect(rule(update.text)).toMatchObject(expected);
    expect(validateRenovateConfig(parsed(update.text), tree)).toEqual([]);
  });

  it('matches every Dockerfile of the tree and nothing else with its pattern', () => {
    const pattern = dockerfilePattern('images');
    expect(['images/docker.io/library/postgres/Dockerfile', 'images/localhost:5000/team/app/Dockerfile'].every((path) => matches(pattern, path))).toBe(true);
    expect(['Dockerfile', 'images/Dockerfile.dev', 'app/images/x/Dockerfile', 'imagesX/a/Dockerfile'].some((path) => matches(pattern, path))).toBe(false);
    expect(matches(dockerfilePattern('deploy/my.images'), 'deploy/my.images/a/Dockerfile')).toBe(true);
    expect(matches(dockerfilePattern('deploy/my.images'), 'deploy/myXimages/a/Dockerfile')).toBe(false);
  });

  it.each([
    ['a new file', undefined],
    ['the team file', TEAM_FILE],
  ])('changes nothing, byte for byte, when rerun on %s', (_, start) => {
    const options: RenovateOptions = { pinDigests: true, schedule: 'weekly', group: 'images' };
    const first = updateRenovateConfig(start, tree, options);
    expect(updateRenovateConfig(first.text, tree, options)).toEqual({ text: first.text, changed: false, changes: [], problems: [] });
    expect(updateRenovateConfig(first.text, tree).text).toBe(first.text);
  });

  it('keeps every other key, rule and the file’s indentation, and leaves every manager on', () => {
    const update = updateRenovateConfig(TEAM_FILE, tree, { pinDigests: true });
    const after = parsed(update.text);
    const before = parsed(TEAM_FILE);
    expect(after).toMatchObject({ $schema: before.$schema, extends: before.extends, timezone: before.timezone });
    expect(after).not.toHaveProperty('enabledManagers');
    expect(after.packageRules?.[0]).toEqual(before.packageRules?.[0]);
    expect(after.packageRules).toHaveLength(2);
    expect(update.text).toMatch(/^\{\n {4}"\$schema"/);
    expect(update.changes).toEqual(['dockerfile.fileMatch: + ^images/.+/Dockerfile$', 'packageRules: + a rule for images/** (schedule ["* 0-3 * * 1"], pinDigests true)']);
  });

  it.each<[string, Record<string, unknown>, RenovateOptions, Record<string, unknown>, string[]]>([
    [
      'adds dockerfile to a list of enabled managers',
      { enabledManagers: ['npm'] },
      {},
      { enabledManagers: ['npm', 'dockerfile'], dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] } },
      ['enabledManagers: + dockerfile', 'dockerfile.fileMatch: + ^images/.+/Dockerfile$', 'packageRules: + a rule for images/** (schedule ["* 0-3 * * 1"])'],
    ],
    [
      'keeps the patterns and settings of the dockerfile manager and switches it back on',
      { extends: ['schedule:weekends'], dockerfile: { enabled: false, managerFilePatterns: ['/^other/Dockerfile$/'], pinDigests: false } },
      {},
      { dockerfile: { managerFilePatterns: ['/^other/Dockerfile$/', '/^images/.+/Dockerfile$/'], pinDigests: false } },
      ['dockerfile: removed "enabled": false', 'dockerfile.managerFilePatterns: + /^images/.+/Dockerfile$/'],
    ],
    [
      'stops pinning in its own rule when asked',
      {
        dockerfile: { managerFilePatterns: ['/^images/.+/Dockerfile$/'] },
        packageRules: [{ matchManagers: ['dockerfile'], matchFileNames: ['images/**'], pinDigests: true, groupName: 'x' }],
      },
      { pinDigests: false },
      { packageRules: [{ matchManagers: ['dockerfile'], matchFileNames: ['images/**'], pinDigests: false, groupName: 'x' }] },
      ['packageRules (images/**): pinDigests = false'],
    ],
  ])('%s', (_, start, options, expected, changes) => {
    const update = updateRenovateConfig(JSON.stringify(start), tree, options);
    expect(parsed(update.text)).toMatchObject(expected);
    expect(update.changes).toEqual(changes);
    expect(update.problems).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['leaves the schedule to a file that sets its own', { schedule: ['* 22-23 * * 5'] }, ['dockerfile.fileMatch: + ^images/.+/Dockerfile$']],
    ['leaves the schedule to a schedule: preset', { extends: ['config:recommended', 'schedule:monthly'] }, ['dockerfile.fileMatch: + ^images/.+/Dockerfile$']],
    [
      'leaves an existing rule without schedule as it is',
      { dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] }, packageRules: [{ matchManagers: ['dockerfile'], matchFileNames: ['images/**'], pinDigests: true }] },
      [],
    ],
  ])('%s', (_, start, changes) => {
    const update = updateRenovateConfig(JSON.stringify(start), tree);
    expect(update.changes).toEqual(changes);
    expect(JSON.stringify(parsed(update.text).packageRules ?? [])).not.toContain('"schedule"');
  });

  it.each<[string, Record<string, unknown>]>([
    ['a fileMatch list', { dockerfile: { fileMatch: ['^other/Dockerfile$', '^images/.+/Dockerfile$'] } }],
    ['a lone fileMatch string', { dockerfile: { fileMatch: '^images/.+/Dockerfile$' } }],
    ['the migrated managerFilePatterns', { dockerfile: { managerFilePatterns: ['/^images/.+/Dockerfile$/'] } }],
  ])('finds the tree already covered by %s and adds no pattern', (_, manager) => {
    const update = updateRenovateConfig(JSON.stringify({ ...manager, schedule: ['* 0-3 * * 1'] }), tree);
    expect(update).toMatchObject({ changed: false, changes: [], problems: [] });
  });

  it('turns a lone fileMatch string into a list when it adds the tree', () => {
    const update = updateRenovateConfig(JSON.stringify({ dockerfile: { fileMatch: '^app/Dockerfile$' }, schedule: ['* 0-3 * * 1'] }), tree);
    expect(parsed(update.text).dockerfile).toEqual({ fileMatch: ['^app/Dockerfile$', '^images/.+/Dockerfile$'] });
    expect(update.problems).toEqual([]);
  });

  it.each([
    ['text that is not JSON', '{ "extends": [', /not valid JSON/],
    ['JSON that is not an object', '["config:recommended"]', /not a JSON object/],
  ])('refuses %s', (_, start, message) => {
    expect(() => updateRenovateConfig(start, tree)).toThrow(BotConfigError);
    expect(() => updateRenovateConfig(start, tree)).toThrow(message);
  });
});

describe('validateRenovateConfig', () => {
  it.each<[string, unknown, string[]]>([
    ['accepts what it writes', { enabledManagers: ['dockerfile'], dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] } }, []],
    ['accepts the name Renovate 40.2 and later read', { dockerfile: { managerFilePatterns: ['/^images/.+/Dockerfile$/', 'images/**/Dockerfile'] } }, []],
    ['accepts no managers list: every manager is on', { extends: ['config:recommended'] }, []],
    ['notices the dockerfile manager left out', { enabledManagers: ['npm'] }, ['"enabledManagers" leaves out dockerfile: no Dockerfile is updated']],
    ['notices the dockerfile manager switched off', { dockerfile: { enabled: false } }, ['"dockerfile.enabled" is false: no Dockerfile is updated']],
    ['notices a broken regular expression', { dockerfile: { managerFilePatterns: ['/^images/(/'] } }, [expect.stringContaining('managerFilePatterns entry "/^images/(/" is not a valid regular expression')] as unknown as string[]],
    ['notices a broken fileMatch', { dockerfile: { fileMatch: '^images/(' } }, [expect.stringContaining('fileMatch entry "^images/(" is not a valid regular expression')] as unknown as string[]],
    ['wants fileMatch to hold strings', { dockerfile: { fileMatch: [1] } }, ['"dockerfile.fileMatch" must be a list of strings']],
    ['wants a selector in each rule', { packageRules: [{ pinDigests: true }] }, ['packageRules[0] needs at least one match… selector']],
    ['wants pinDigests to be a boolean', { packageRules: [{ matchManagers: ['dockerfile'], pinDigests: 'yes' }] }, ['packageRules[0]: "pinDigests" must be true or false']],
  ])('%s', (_, config, problems) => {
    expect(validateRenovateConfig(config, tree)).toEqual(problems);
  });

  it.each<[string, Record<string, unknown>, string, string[]]>([
    ['passes a tree Renovate reads', { extends: ['config:recommended'] }, 'images', []],
    [
      'notices config:recommended hiding a tree under test/',
      { extends: ['config:recommended'] },
      'test/images',
      ['ignorePaths ("**/node_modules/**", "**/bower_components/**", "**/vendor/**", "**/examples/**", "**/__tests__/**", "**/test/**", "**/tests/**", "**/__fixtures__/**") hide "test/images/docker.io/library/postgres/Dockerfile", "test/images/quay.io/prometheus/node-exporter/Dockerfile"'],
    ],
    ['lets the file’s own ignorePaths replace the preset’s', { extends: ['config:recommended'], ignorePaths: ['**/node_modules/**'] }, 'test/images', []],
    ['notices the file’s own ignorePaths hiding the tree', { ignorePaths: ['images/quay.io/**'] }, 'images', ['ignorePaths ("images/quay.io/**") hide "images/quay.io/prometheus/node-exporter/Dockerfile"']],
  ])('%s', (_, config, imagesDir, problems) => {
    expect(validateRenovateConfig(config, { ...tree, imagesDir })).toEqual(problems);
  });
});
