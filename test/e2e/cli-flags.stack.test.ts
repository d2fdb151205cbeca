import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { motoEnv, stack, uniqueName } from '../support/stack.ts';

describe('mirror sync --only, --verbose and --summary-file (real registries, real crane)', () => {
  const s = stack();
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const ns = uniqueName('flags');
  const prefix = `mirror-${ns}`;
  const src = `${s.sourceRegistry}/${ns}`;
  const targetRepo = (repo: string) => `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}/${repo}`;
  const digests: Record<string, string> = {};
  let images = '';
  let credentials = '';

  beforeAll(async () => {
    for (const tag of ['1', '2']) digests[`app:${tag}`] = (await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, tag)).digest;
    digests['tool:1'] = (await pushImage({ registry: s.sourceRegistry }, `${ns}/tool`, '1')).digest;
    images = await writeImagesTree({
      [`${src}/app/Dockerfile`]: `FROM ${src}/app:1 AS old\nFROM ${src}/app:2\n`,
      [`${src}/tool/Dockerfile`]: `FROM ${src}/tool:1\n`,
      // Named in the tree, never pushed: its copy fails.
      [`${src}/gone/Dockerfile`]: `FROM ${src}/gone:1\n`,
    });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  const sync = (...extra: string[]) => runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, ...extra], { CRANE: s.crane });

  it('copies only the --only images: every tag of a repository named without one, and nothing else', async () => {
    const run = await sync('--only', `${src}/app`, '--json', '--quiet');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => [r.source, r.status])).toEqual([
      [`${src}/app:1`, 'copied'],
      [`${src}/app:2`, 'copied'],
    ]);
    expect(report.summary).toMatchObject({ planned: 2, copied: 2, failed: 0 });
    expect(await manifestDigest(target, targetRepo('app'), '1')).toBe(digests['app:1']);
    expect(await manifestDigest(target, targetRepo('app'), '2')).toBe(digests['app:2']);
    expect(await manifestDigest(target, targetRepo('tool'), '1')).toBeUndefined();
    expect(await manifestDigest(target, targetRepo('gone'), '1')).toBeUndefined();
  });

  it('prints each crane command with --verbose, naming the subcommand, source and target, and never a login', async () => {
    const run = await sync('--only', `${src}/tool:1`, '--verbose', '--json');
    expect(run.code, run.stderr).toBe(0);
    const commands = run.stderr.split('\n').filter((line) => line.startsWith('mirror: running '));
    // The source by the digest its lookup found, so that a tag moving meanwhile cannot change what lands.
    expect(commands).toEqual([`mirror: running ${s.crane} copy ${src}/tool@${digests['tool:1']} ${s.targetRegistry}/${targetRepo('tool')}:1`]);
    const basic = Buffer.from(`${s.targetUsername}:${s.targetPassword}`).toString('base64');
    for (const secret of [s.targetPassword, basic]) {
      expect(run.stderr).not.toContain(secret);
      expect(run.stdout).not.toContain(secret);
    }
    expect(await manifestDigest(target, targetRepo('tool'), '1')).toBe(digests['tool:1']);
    // Without --verbose, no command is printed.
    const quietRun = await sync('--only', `${src}/tool:1`, '--json');
    expect(quietRun.stderr).not.toContain('mirror: running ');
  });

  it('appends the sync report in markdown to --summary-file even when an image fails, and prints markdown with --format', async () => {
    const file = join(images, '..', `${ns}-summary.md`);
    await writeFile(file, '## Before the sync\n');
    const run = await sync('--only', `${src}/gone`, '--only', `${src}/tool`, '--format', 'markdown', '--quiet', '--summary-file', file);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^### Mirror sync\n\n2 images planned: 0 copied, 1 skipped, 1 failed; 0 invalid files\.\n/);
    expect(run.stdout).toContain(`#### Failed or interrupted images: 1\n\n- \`${src}/gone:1\``);
    const summary = await readFile(file, 'utf8');
    expect(summary).toBe(`## Before the sync\n\n${run.stdout}`);
  });
});

describe('mirror orphans --summary-file (moto)', () => {
  const s = stack();
  const aws = motoEnv(s);

  it('appends the orphan report in markdown', async () => {
    const ns = uniqueName('orphans-summary');
    const images = await writeImagesTree({ [`${s.sourceRegistry}/${ns}/app/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/app:1\n` });
    const file = join(images, '..', `${ns}-summary.md`);
    const run = await runCli(['orphans', '--images', images, '--target', `${s.targetRegistry}/mirror-${ns}`, '--ecr', '--summary-file', file], aws);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('No orphaned repositories');
    expect(await readFile(file, 'utf8')).toBe(`\n### Mirror orphans\n\nNo orphaned repositories under \`${s.targetRegistry}/mirror-${ns}\` (0 checked).\n`);
  });
});
