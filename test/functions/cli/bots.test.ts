import { readFile, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateDependabotConfig } from '../../../shared/bots/dependabot.ts';
import { validateRenovateConfig } from '../../../shared/bots/renovate.ts';
import { runCli } from '../../support/cli.ts';
import { makeGitRepo, writeFiles } from '../../support/git.ts';

const IMAGES = {
  'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
  'images/quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
};

async function repoWithImages(extra: Record<string, string> = {}): Promise<string> {
  const repo = await makeGitRepo();
  await writeFiles(repo, { ...IMAGES, ...extra }, 'images');
  return repo;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

describe('mirror dependabot', () => {
  it('writes .github/dependabot.yml at the git top level, then finds it up to date', async () => {
    const repo = await repoWithImages();
    const first = await runCli(['dependabot', '--images', join(repo, 'images'), '--schedule', 'daily', '--group', 'images']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/dependabot\.yml: created\n {2}added a docker entry for 2 directories below \/images, daily\n$/);
    const file = join(repo, '.github', 'dependabot.yml');
    const written = await readFile(file, 'utf8');
    const config = parse(written) as { updates: unknown[] };
    expect(validateDependabotConfig(config)).toEqual([]);
    expect(config.updates).toEqual([
      {
        'package-ecosystem': 'docker',
        directories: ['/images/docker.io/library/postgres', '/images/quay.io/prometheus/node-exporter'],
        schedule: { interval: 'daily' },
        groups: { images: { patterns: ['*'] } },
      },
    ]);

    const again = await runCli(['dependabot', '--images', join(repo, 'images'), '--schedule', 'daily', '--group', 'images']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/dependabot\.yml: up to date with images\/ \(2 Dockerfiles\)\n$/);
    expect(await readFile(file, 'utf8')).toBe(written);
  });

  it('checks without writing: exit 0 when up to date, 1 with the missing directory when not', async () => {
    const repo = await repoWithImages();
    await runCli(['dependabot', '--images', join(repo, 'images')]);
    const file = join(repo, '.github', 'dependabot.yml');
    const written = await readFile(file, 'utf8');
    expect((await runCli(['dependabot', '--images', join(repo, 'images'), '--check'])).code).toBe(0);

    await writeFiles(repo, { 'images/ghcr.io/hadolint/hadolint/Dockerfile': 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n' });
    const check = await runCli(['dependabot', '--images', join(repo, 'images'), '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('dependabot.yml: out of date\n  + /images/ghcr.io/hadolint/hadolint\n');
    expect(await readFile(file, 'utf8')).toBe(written);
  });

  it('prints the new file and writes nothing with --dry-run', async () => {
    const repo = await repoWithImages();
    const run = await runCli(['dependabot', '--images', join(repo, 'images'), '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('would change (dry run, nothing written)');
    expect(run.stdout).toContain('      - /images/quay.io/prometheus/node-exporter\n');
    expect(await exists(join(repo, '.github', 'dependabot.yml'))).toBe(false);
  });

  it('lists only Dockerfiles: a linked directory the reader passes over is no directory to update', async () => {
    const repo = await repoWithImages();
    await symlink(join(repo, 'images', 'docker.io'), join(repo, 'images', 'linked'));
    const run = await runCli(['dependabot', '--images', join(repo, 'images'), '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('      - /images/docker.io/library/postgres\n');
    expect(run.stdout).not.toMatch(/- \/images\n|\/images\/linked/);
  });

  it('keeps the other ecosystems of an existing file', async () => {
    const npm = 'version: 2\nupdates:\n  - package-ecosystem: npm # the app\n    directory: /\n    schedule:\n      interval: weekly\n';
    const repo = await repoWithImages({ '.github/dependabot.yml': npm });
    const run = await runCli(['dependabot', '--images', join(repo, 'images')]);
    expect(run.code, run.stderr).toBe(0);
    const text = await readFile(join(repo, '.github', 'dependabot.yml'), 'utf8');
    expect(text.startsWith(npm)).toBe(true);
    expect((parse(text) as { updates: { 'package-ecosystem': string }[] }).updates.map((u) => u['package-ecosystem'])).toEqual(['npm', 'docker']);
  });

  it('refuses to write what Dependabot would refuse, exiting 1', async () => {
    const clash = 'version: 2\nupdates:\n  - package-ecosystem: docker\n    directories: ["/", "/images/docker.io/library/postgres"]\n    schedule:\n      interval: weekly\n';
    const repo = await repoWithImages({ '.github/dependabot.yml': clash });
    const run = await runCli(['dependabot', '--images', join(repo, 'images')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Dependabot would refuse');
    expect(run.stderr).toContain('updates[1]: docker directory "/images/docker.io/library/postgres" is already covered by updates[0]');
    expect(await readFile(join(repo, '.github', 'dependabot.yml'), 'utf8')).toBe(clash);
  });
});

describe('mirror renovate', () => {
  it('writes renovate.json with digest pinning, then finds it up to date', async () => {
    const repo = await repoWithImages();
    const first = await runCli(['renovate', '--images', join(repo, 'images'), '--pin-digests']);
    expect(first.code, first.stderr).toBe(0);
    const file = join(repo, 'renovate.json');
    const written = await readFile(file, 'utf8');
    const config = JSON.parse(written) as Record<string, unknown>;
    expect(validateRenovateConfig(config)).toEqual([]);
    expect(config).toMatchObject({ enabledManagers: ['dockerfile'], dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] } });
    expect(config.packageRules).toEqual([expect.objectContaining({ matchDatasources: ['docker'], matchFileNames: ['images/**'], pinDigests: true, schedule: ['* 0-3 * * 1'] })]);

    const again = await runCli(['renovate', '--images', join(repo, 'images'), '--pin-digests']);
    expect(again.stdout).toContain('renovate.json: up to date');
    expect(await readFile(file, 'utf8')).toBe(written);
  });

  it.each<[string, string, (config: Record<string, unknown>) => unknown]>([
    ['renovate', 'renovate.json', (config) => (config.packageRules as { schedule: string[] }[])[0]?.schedule],
    ['dependabot', '.github/dependabot.yml', (config) => (config.updates as { schedule: { interval: string } }[])[0]?.schedule.interval],
  ])('%s writes the default schedule its help promises', async (bot, path, scheduleOf) => {
    const help = (await runCli([bot, '--help'])).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('default for a new');
    const repo = await repoWithImages();
    expect((await runCli([bot, '--images', join(repo, 'images')])).code).toBe(0);
    const written = scheduleOf(parse(await readFile(join(repo, path), 'utf8')) as Record<string, unknown>);
    const promised = bot === 'renovate' ? ['* 0-3 * * 1'] : 'weekly';
    expect(written).toEqual(promised);
    expect(help).toContain(bot === 'renovate' ? 'weekly, "* 0-3 * * 1"' : 'weekly');
  });

  it('edits the JSON file Renovate already reads', async () => {
    const repo = await repoWithImages({ '.github/renovate.json': '{\n  "extends": ["config:recommended"]\n}\n' });
    const run = await runCli(['renovate', '--images', join(repo, 'images')]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(repo, '.github', 'renovate.json'), 'utf8'))).toEqual({
      extends: ['config:recommended'],
      dockerfile: { fileMatch: ['^images/.+/Dockerfile$'] },
      packageRules: [expect.objectContaining({ matchFileNames: ['images/**'], schedule: ['* 0-3 * * 1'] })],
    });
    expect(await exists(join(repo, 'renovate.json'))).toBe(false);
  });
});

describe('bot commands: usage errors exit 2', () => {
  it.each<[string, Record<string, string>, (repo: string) => string[], string]>([
    ['a JSON5 configuration', { 'renovate.json5': '{ extends: ["config:recommended"] }\n' }, (repo) => ['renovate', '--images', join(repo, 'images')], 'Renovate reads "renovate.json5", which is JSON5'],
    ['a dependabot.yml that is not YAML', { '.github/dependabot.yml': 'version: 2\nupdates: [\n' }, (repo) => ['dependabot', '--images', join(repo, 'images')], 'dependabot.yml: not valid YAML'],
    ['images outside the repository root', {}, (repo) => ['dependabot', '--images', join(repo, 'images'), '--repo-root', join(repo, 'images', 'docker.io')], 'is not inside the repository root'],
    ['an unknown schedule', {}, (repo) => ['renovate', '--images', join(repo, 'images'), '--schedule', 'hourly'], "argument 'hourly' is invalid"],
    ['a group name with spaces', {}, (repo) => ['dependabot', '--images', join(repo, 'images'), '--group', 'my images'], '--group: "my images" may only hold'],
    ['a missing images directory', {}, (repo) => ['dependabot', '--images', join(repo, 'nope')], 'is not a directory'],
  ])('%s', async (_, extra, args, message) => {
    const repo = await repoWithImages(extra);
    const run = await runCli(args(repo));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
