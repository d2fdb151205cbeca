import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { stack, uniqueName } from '../support/stack.ts';

describe('mirror sync --ecr (moto for the ECR API, the htpasswd registry for its endpoint)', () => {
  const s = stack();
  const aws = { AWS_ENDPOINT_URL: s.awsEndpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', CRANE: s.crane };
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const ns = uniqueName('ecr');
  const prefix = `mirror-${ns}`;
  const tags = ['1', '2', '3', '4', '5', '6'];
  const digests = new Map<string, string>();
  let images = '';

  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (const tag of tags) {
      digests.set(tag, (await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, tag)).digest);
      files[`${s.sourceRegistry}/${ns}/app-${tag}/Dockerfile`] = `FROM ${s.sourceRegistry}/${ns}/app:${tag}\n`;
    }
    digests.set('tool', (await pushImage({ registry: s.sourceRegistry }, `${ns}/tool`, 'v1')).digest);
    files[`${s.sourceRegistry}/${ns}/tool/Dockerfile`] = `FROM ${s.sourceRegistry}/${ns}/tool:v1\n`;
    images = await writeImagesTree(files);
  });

  it('creates each repository once, even with all tags of a new repository copied at once, and authenticates with the ECR token', async () => {
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--ecr', '--concurrency', '6', '--json'], aws);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.summary).toMatchObject({ planned: 7, copied: 7, failed: 0, invalid: 0 });

    const found = await ecr.send(new DescribeRepositoriesCommand({}));
    const ours = (found.repositories ?? []).map((r) => r.repositoryName).filter((name) => name?.startsWith(`${prefix}/`)).sort();
    const base = `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}`;
    expect(ours).toEqual([`${base}/app`, `${base}/tool`]);

    const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
    for (const tag of tags) expect(await manifestDigest(target, `${base}/app`, tag)).toBe(digests.get(tag));
  });

  it('creates no repository in a dry run', async () => {
    const other = `dry-${ns}`;
    const run = await runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${other}`, '--ecr', '--dry-run', '--json'], aws);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Report).summary).toMatchObject({ wouldCopy: 7, copied: 0 });
    const found = await ecr.send(new DescribeRepositoriesCommand({}));
    expect((found.repositories ?? []).filter((r) => r.repositoryName?.startsWith(`${other}/`))).toEqual([]);
  });
});
