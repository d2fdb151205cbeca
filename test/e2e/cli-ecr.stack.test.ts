import {
  CreateRepositoryCommand,
  DeleteLifecyclePolicyCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetLifecyclePolicyCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-ecr';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import type { OrphanReport } from '../../shared/sync/orphans.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { motoEnv, stack, uniqueName } from '../support/stack.ts';

describe('mirror sync --ecr (moto for the ECR API, the htpasswd registry for its endpoint)', () => {
  const s = stack();
  const aws = { ...motoEnv(s), CRANE: s.crane };
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

describe('mirror sync --ecr keeping repositories right, and mirror orphans (moto)', () => {
  const s = stack();
  const aws = { ...motoEnv(s), CRANE: s.crane };
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const ns = uniqueName('keep');
  const prefix = `mirror-${ns}`;
  const host = s.sourceRegistry.replace(':', '-');
  const repo = (name: string) => `${prefix}/${host}/${ns}/${name}`;
  const dockerfile = (name: string) => ({ [`${s.sourceRegistry}/${ns}/${name}/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/${name}:1\n` });
  let images = '';

  const names = async (under: string) =>
    ((await ecr.send(new DescribeRepositoriesCommand({}))).repositories ?? []).map((r) => r.repositoryName ?? '').filter((name) => name.startsWith(`${under}/`)).sort();
  const arnOf = async (name: string) => (await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }))).repositories?.[0]?.repositoryArn ?? '';
  const sync = async (tree: string, ...extra: string[]) => runCli(['sync', '--images', tree, '--target', `${s.targetRegistry}/${prefix}`, '--ecr', '-q', ...extra], aws);

  beforeAll(async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    await pushImage({ registry: s.sourceRegistry }, `${ns}/tool`, '1');
    // `ghost` is named by a Dockerfile but was never pushed.
    images = await writeImagesTree({ ...dockerfile('app'), ...dockerfile('tool'), ...dockerfile('ghost') });
    const run = await sync(images, '--json');
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.summary).toMatchObject({ copied: 2, failed: 1 });
    expect(report.results.find((r) => r.source.includes('/ghost'))?.error).toMatch(/no such image \(404\)/);
    expect(report.results.find((r) => r.source.includes('/app'))?.repository).toEqual({ created: true });
  });

  it('creates no repository for a source that does not exist', async () => {
    expect(await names(prefix)).toEqual([repo('app'), repo('tool')]);
  });

  it('puts back a deleted lifecycle policy, scan on push and a removed managed-by tag on a run that copies nothing', async () => {
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: repo('app') }));
    await ecr.send(new PutImageScanningConfigurationCommand({ repositoryName: repo('app'), imageScanningConfiguration: { scanOnPush: false } }));
    const arn = await arnOf(repo('tool'));
    await ecr.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'team', Value: 'platform' }] }));
    await ecr.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['managed-by'] }));

    const run = await sync(images, '--json');
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.summary).toMatchObject({ copied: 0, skipped: 2 });
    const result = (name: string) => report.results.find((r) => r.source.includes(`/${name}:`));
    // Created moments ago, the repository's missing policy may be its creation under way: put back, not called drift.
    expect(result('app')?.repository?.repaired).toContain('scan on push');
    expect(result('tool')?.repository).toEqual({ repaired: ['tag managed-by'] });
    expect(result('ghost')?.repository).toBeUndefined();

    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: repo('app') }));
    expect(policy.lifecyclePolicyText).toBeTruthy();
    const [app] = (await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [repo('app')] }))).repositories ?? [];
    expect(app?.imageScanningConfiguration?.scanOnPush).toBe(true);
    const tags = Object.fromEntries(((await ecr.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ 'managed-by': 'image-mirror', team: 'platform', source: `${s.sourceRegistry}/${ns}/tool` });

    // The text report says it in a line per repository, and the next run has nothing to say.
    await ecr.send(new PutImageScanningConfigurationCommand({ repositoryName: repo('tool'), imageScanningConfiguration: { scanOnPush: false } }));
    const text = await sync(images);
    expect(text.stdout).toContain(`  ${s.targetRegistry}/${repo('tool')}: put back scan on push`);
    expect((await sync(images)).stdout).not.toContain('put back');
  });

  it('reports an encryption other than the configured one, and still mirrors', async () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const run = await sync(images, '--json', '--kms-key', key);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.summary).toMatchObject({ skipped: 2, failed: 1 });
    expect(report.results.find((r) => r.source.includes('/app:'))?.repository?.warnings).toEqual([
      `encryption is AES256, configured KMS key ${key}: encryption cannot change; recreate the repository to change it`,
    ]);
  });

  it('lists a managed repository no Dockerfile names any more, and none that is not managed or lies outside the prefix', async () => {
    const orphans = (tree: string, ...extra: string[]) => runCli(['orphans', '--images', tree, '--target', `${s.targetRegistry}/${prefix}`, '--ecr', ...extra], aws);
    const none = await orphans(images);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe(`No orphaned repositories under ${s.targetRegistry}/${prefix} (2 checked).\n`);

    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/by-hand`, tags: [{ Key: 'team', Value: 'x' }] }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `other-${ns}/old`, tags: [{ Key: 'managed-by', Value: 'image-mirror' }] }));
    // Another stack's, whose prefix lies below this one, and one of another name template: theirs, never orphans.
    const managed = (source: string) => [{ Key: 'managed-by', Value: 'image-mirror' }, { Key: 'source', Value: source }];
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/team/${host}/${ns}/gone`, tags: managed(`${s.sourceRegistry}/${ns}/gone`) }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/${ns}/flat`, tags: managed(`${s.sourceRegistry}/${ns}/flat`) }));
    // Managed, but with no source tag: whose it is cannot be told.
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/sourceless`, tags: [{ Key: 'managed-by', Value: 'image-mirror' }] }));
    const withoutTool = await writeImagesTree({ ...dockerfile('app'), ...dockerfile('ghost') });
    const found = await orphans(withoutTool, '--json');
    expect(found.code, found.stderr).toBe(1);
    expect(JSON.parse(found.stdout) as OrphanReport).toEqual({
      orphans: [{ name: repo('tool'), source: `${s.sourceRegistry}/${ns}/tool` }],
      checked: 6,
      spared: [],
      invalid: 0,
      foreign: 2,
      unattributed: [{ name: `${prefix}/sourceless` }],
      notAllowed: [],
    });
    // The same repositories seen by the configuration with the flat template: only its own is an orphan, and this
    // one's (app, tool) are the other configuration's.
    const flat = await orphans(withoutTool, '--json', '--name-template', '{repository}');
    expect(JSON.parse(flat.stdout) as OrphanReport).toMatchObject({ orphans: [{ name: `${prefix}/${ns}/flat` }], foreign: 3 });

    const text = await orphans(withoutTool, '--format', 'text');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`  ${repo('tool')}  ${s.sourceRegistry}/${ns}/tool`);
    expect(text.stdout).toContain('aws ecr delete-repository --repository-name NAME --force');
    expect(text.stdout).toContain('2 managed repositories under the prefix belong to another configuration');

    // An invalid Dockerfile in tool's directory: it is being fixed, not removed.
    const broken = await writeImagesTree({ ...dockerfile('app'), [`${s.sourceRegistry}/${ns}/tool/Dockerfile`]: 'FROM ${NOT_SET}\n' });
    const spared = await orphans(broken, '--json');
    expect(spared.code, spared.stderr).toBe(0);
    expect(JSON.parse(spared.stdout) as OrphanReport).toMatchObject({ orphans: [], spared: [{ name: repo('tool') }], invalid: 1 });

    // Every Dockerfile there, but its registry left out by --allow-registry: not this configuration's to judge.
    const notAllowed = await orphans(images, '--json', '--allow-registry', 'quay.io');
    expect(notAllowed.code, notAllowed.stderr).toBe(0);
    expect(JSON.parse(notAllowed.stdout) as OrphanReport).toMatchObject({ orphans: [], foreign: 2, notAllowed: [{ registry: s.sourceRegistry, repositories: 2 }] });
    const notAllowedText = await orphans(images, '--allow-registry', 'quay.io');
    expect(notAllowedText.stdout).toContain(`2 managed repositories mirror images of a registry not allowed (${s.sourceRegistry}: 2) and were left out, not orphaned`);
    expect(await names(prefix)).toEqual([repo('app'), repo('tool'), `${prefix}/by-hand`, `${prefix}/team/${host}/${ns}/gone`, `${prefix}/${ns}/flat`, `${prefix}/sourceless`].sort());
  });

  it('warns when the target has no prefix', async () => {
    const run = await runCli(['orphans', '--images', images, '--target', s.targetRegistry, '--ecr', '--json'], aws);
    expect([0, 1], run.stderr).toContain(run.code);
    expect(run.stderr).toContain('mirror: warning: the target has no prefix');
    expect(JSON.parse(run.stdout) as OrphanReport).toHaveProperty('foreign');
  });

  it('refuses a target that is not ECR, with exit code 2', async () => {
    const run = await runCli(['orphans', '--images', images, '--target', `${s.targetRegistry}/${prefix}`], aws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^mirror: --target: ".*" is not an ECR registry/);
  });
});
