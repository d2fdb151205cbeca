import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { stack, uniqueName, watchSource } from '../support/stack.ts';

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('mirror sync checks its setup once, before the first image', () => {
  const s = stack();
  const ns = uniqueName('preflight');
  const wrongPassword = `wrong-${ns}-PASSWORD`;
  let source: FaultProxy;
  let work = '';
  let many = '';
  let good = '';
  let bad = '';

  beforeAll(async () => {
    // 200 images that do not exist, named through a proxy that logs every request: none may reach the source.
    source = await watchSource();
    many = await writeImagesTree(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${source.host}/${ns}/app-${i}/Dockerfile`, `FROM ${source.host}/${ns}/app-${i}:1\n`])));
    work = await mkdtemp(join(tmpdir(), 'image-mirror-preflight-'));
    good = join(work, 'good.json');
    bad = join(work, 'bad.json');
    await writeFile(good, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
    await writeFile(bad, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: wrongPassword } }), { mode: 0o600 });
  });

  afterAll(async () => {
    await source.close();
    await rm(work, { recursive: true, force: true });
    await rm(many, { recursive: true, force: true });
  });

  it('fails once with exit 2 when crane is missing, naming it and the fix, without a line per image', async () => {
    const run = await runCli(['sync', '--images', many, '--target', `${s.targetRegistry}/${ns}`, '--credentials', good, '--crane', '/nonexistent/crane']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual(['mirror: crane not found ("/nonexistent/crane"): install crane (https://github.com/google/go-containerregistry/tree/main/cmd/crane; the GitHub Action installs one) or give --crane PATH / CRANE']);
    expect(source.log).toEqual([]);
  });

  it('fails once with exit 2 when the target refuses the login, never showing the password', async () => {
    const run = await runCli(['sync', '--images', many, '--target', `${s.targetRegistry}/${ns}`, '--credentials', bad, '--json'], { CRANE: s.crane });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(count(run.stderr, `the target refused the login for ${s.targetRegistry}`)).toBe(1);
    expect(run.stderr).toContain('401 Unauthorized');
    expect(run.stderr).not.toContain(wrongPassword);
    expect(source.log).toEqual([]);
  });

  it('fails once with exit 2 when an ECR target has no region, saying to set AWS_REGION', async () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION, AWS_PROFILE: process.env.AWS_PROFILE };
    for (const name of Object.keys(saved)) delete process.env[name];
    try {
      const none = join(work, 'no-such-aws-file');
      const run = await runCli(['sync', '--images', many, '--target', `${s.targetRegistry}/${ns}`, '--ecr'], {
        CRANE: s.crane,
        AWS_CONFIG_FILE: none,
        AWS_SHARED_CREDENTIALS_FILE: none,
        AWS_ENDPOINT_URL: s.awsEndpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toEqual([`mirror: no AWS region for the ECR target ${s.targetRegistry}: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile)`]);
      expect(source.log).toEqual([]);
    } finally {
      for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
    }
  });

  it('checks the login but not crane in a dry run', async () => {
    const refused = await runCli(['sync', '--images', many, '--target', `${s.targetRegistry}/${ns}`, '--credentials', bad, '--dry-run', '--crane', '/nonexistent/crane']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`the target refused the login for ${s.targetRegistry}`);
    expect(refused.stderr).not.toContain('crane');
    expect(source.log).toEqual([]);
  });

  it("logs in to the target with an `auths` entry of Docker's config.json, and copies", async () => {
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/real`, '1');
    const one = await writeImagesTree({ [`${s.sourceRegistry}/${ns}/real/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/real:1\n` });
    const dockerConfig = join(work, 'docker');
    await mkdir(dockerConfig);
    const auth = Buffer.from(`${s.targetUsername}:${s.targetPassword}`).toString('base64');
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [`http://${s.targetRegistry}`]: { auth } } }), { mode: 0o600 });
    try {
      // A dry run needs no crane, and still logs in.
      const dry = await runCli(['sync', '--images', one, '--target', `${s.targetRegistry}/${ns}`, '--dry-run', '--json', '--crane', '/nonexistent/crane'], { DOCKER_CONFIG: dockerConfig });
      expect(dry.code, dry.stderr).toBe(0);
      expect((JSON.parse(dry.stdout) as Report).summary).toMatchObject({ planned: 1, wouldCopy: 1, failed: 0 });

      const run = await runCli(['sync', '--images', one, '--target', `${s.targetRegistry}/${ns}`, '--json'], { CRANE: s.crane, DOCKER_CONFIG: dockerConfig });
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as Report).summary).toMatchObject({ planned: 1, copied: 1, failed: 0 });
      const target = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
      expect(await manifestDigest(target, `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/real`, '1')).toBe(pushed.digest);
      for (const printed of [dry.stdout, dry.stderr, run.stdout, run.stderr]) {
        expect(printed).not.toContain(s.targetPassword);
        expect(printed).not.toContain(auth);
      }
    } finally {
      await rm(one, { recursive: true, force: true });
    }
  });
});
