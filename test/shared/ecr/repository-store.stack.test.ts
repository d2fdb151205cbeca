import {
  CreateRepositoryCommand,
  DeleteLifecyclePolicyCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetLifecyclePolicyCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  PutLifecyclePolicyCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-ecr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RepositoryStoreError } from '../../../shared/errors.ts';
import { EcrCredentialProvider } from '../../../shared/ecr/authorization.ts';
import { EcrRepositoryStore, lifecyclePolicy } from '../../../shared/ecr/repository-store.ts';
import { stack, uniqueName } from '../../support/stack.ts';

const client = () =>
  new ECRClient({ region: 'us-east-1', endpoint: stack().awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

/** A clock ten minutes ahead: the repositories of a test look old enough to have drifted rather than be mid-creation. */
const later = { now: () => Date.now() + 10 * 60_000 };

async function describeRepository(ecr: ECRClient, name: string) {
  const found = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }));
  return found.repositories ?? [];
}

describe('EcrRepositoryStore against moto', () => {
  it('creates a missing repository with scan on push, mutable tags, AES256, tags and a lifecycle policy', async () => {
    const ecr = client();
    const name = `mirror/docker.io/library/${uniqueName('pg')}`;
    expect(await new EcrRepositoryStore(ecr).ensure(name, 'docker.io/library/postgres')).toEqual({ created: true, repaired: [], warnings: [] });

    const [repo] = await describeRepository(ecr, name);
    expect(repo).toMatchObject({
      repositoryName: name,
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' },
    });
    const tags = await ecr.send(new ListTagsForResourceCommand({ resourceArn: repo?.repositoryArn }));
    expect(tags.tags).toEqual(expect.arrayContaining([{ Key: 'managed-by', Value: 'image-mirror' }, { Key: 'source', Value: 'docker.io/library/postgres' }]));
    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: name }));
    expect(JSON.parse(policy.lifecyclePolicyText ?? '{}')).toEqual(JSON.parse(lifecyclePolicy(14)));
    expect(JSON.parse(lifecyclePolicy(14)).rules[0].selection.tagStatus).toBe('untagged');
  });

  it('leaves an existing repository whose settings are all in place alone', async () => {
    const ecr = client();
    const name = `mirror/${uniqueName('existing')}`;
    const store = new EcrRepositoryStore(ecr, later);
    expect(await store.ensure(name, 'quay.io/x')).toMatchObject({ created: true });
    const sent = vi.spyOn(ecr, 'send');
    expect(await new EcrRepositoryStore(ecr, later).ensure(name, 'quay.io/x')).toEqual({ created: false, repaired: [], warnings: [] });
    expect(await store.check(name, 'quay.io/x')).toEqual({ created: false, repaired: [], warnings: [] });
    // Reads only: describe, lifecycle policy, tags.
    expect(sent.mock.calls.map(([command]) => command.constructor.name).sort()).toEqual([
      'DescribeRepositoriesCommand', 'DescribeRepositoriesCommand', 'GetLifecyclePolicyCommand', 'GetLifecyclePolicyCommand', 'ListTagsForResourceCommand', 'ListTagsForResourceCommand',
    ]);
  });

  it('creates nothing on a check of a repository that does not exist', async () => {
    const name = `mirror/${uniqueName('absent')}`;
    expect(await new EcrRepositoryStore(client()).check(name, 'quay.io/x')).toBeUndefined();
    expect(await describeRepository(client(), name).catch((error: Error) => error.name)).toBe('RepositoryNotFoundException');
  });

  it('uses the given KMS key', async () => {
    const ecr = client();
    const name = `mirror/${uniqueName('kms')}`;
    const key = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    await new EcrRepositoryStore(ecr, { kmsKey: key }).ensure(name, 'quay.io/x');
    const [repo] = await describeRepository(ecr, name);
    expect(repo?.encryptionConfiguration).toEqual({ encryptionType: 'KMS', kmsKey: key });
  });

  it('creates one repository when many workers race for it, and none of them fails', async () => {
    const name = `mirror/${uniqueName('race')}`;
    // Separate stores and clients: as separate Lambda containers would be.
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => new EcrRepositoryStore(client()).ensure(name, 'docker.io/library/redis')));
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    // The others may find it before its lifecycle policy is set: a repository being created has not drifted.
    expect(outcomes.filter((o) => !o.created)).toEqual(Array.from({ length: 7 }, () => ({ created: false, repaired: [], warnings: [] })));
    expect(await describeRepository(client(), name)).toHaveLength(1);
  });

  it('shares one creation between jobs of one container, and tells only the one that created it', async () => {
    const name = `mirror/${uniqueName('shared')}`;
    const ecr = client();
    const sent = vi.spyOn(ecr, 'send');
    const store = new EcrRepositoryStore(ecr);
    const outcomes = await Promise.all([store.ensure(name, 's'), store.ensure(name, 's'), store.check(name, 's'), store.ensure(name, 's')]);
    expect(outcomes.map((o) => o?.created)).toEqual([true, false, false, false]);
    expect(sent.mock.calls.filter(([command]) => command instanceof CreateRepositoryCommand)).toHaveLength(1);
  });

  it('names the repository and the step when ECR fails', async () => {
    const broken = new ECRClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(new EcrRepositoryStore(broken).ensure('mirror/x', 's')).rejects.toThrow(/^describing ECR repository "mirror\/x": /);
  });
});

describe('EcrRepositoryStore putting back drifted settings, against moto', () => {
  const source = 'docker.io/library/nginx';
  afterEach(() => vi.restoreAllMocks());

  /** A repository as the mirror creates it, and its ARN. */
  async function created(label: string, options = {}): Promise<{ ecr: ECRClient; name: string; arn: string }> {
    const ecr = client();
    const name = `mirror/${uniqueName(label)}`;
    await new EcrRepositoryStore(ecr, options).ensure(name, source);
    const [repo] = await describeRepository(ecr, name);
    return { ecr, name, arn: repo?.repositoryArn ?? '' };
  }

  async function tagsOf(ecr: ECRClient, arn: string) {
    return Object.fromEntries(((await ecr.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags ?? []).map((tag) => [tag.Key, tag.Value]));
  }

  it('puts back a deleted lifecycle policy on the next check, and again after it is deleted again', async () => {
    const { ecr, name } = await created('lifecycle');
    const store = new EcrRepositoryStore(ecr, later);
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    expect(await store.check(name, source)).toEqual({ created: false, repaired: ['lifecycle policy'], warnings: [] });
    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: name }));
    expect(JSON.parse(policy.lifecyclePolicyText ?? '{}')).toEqual(JSON.parse(lifecyclePolicy(14)));
    expect(await store.check(name, source)).toEqual({ created: false, repaired: [], warnings: [] });
    // The same store a container keeps across invocations: nothing checked is remembered.
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    expect(await store.check(name, source)).toMatchObject({ repaired: ['lifecycle policy'] });
  });

  it('replaces a lifecycle policy of its own with the managed one, and says so', async () => {
    const { ecr, name } = await created('own-policy');
    const own = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 3 }, action: { type: 'expire' } }] });
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: name, lifecyclePolicyText: own }));
    const report = await new EcrRepositoryStore(ecr).check(name, source);
    expect(report).toMatchObject({ repaired: ['lifecycle policy'], warnings: [expect.stringMatching(/lifecycle policy differed from the managed one and was replaced/)] });
    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: name }));
    expect(JSON.parse(policy.lifecyclePolicyText ?? '{}')).toEqual(JSON.parse(lifecyclePolicy(14)));
  });

  it('takes a policy with other spacing and key order for the managed one', async () => {
    const { ecr, name } = await created('respaced');
    const { rules } = JSON.parse(lifecyclePolicy(14)) as { rules: Record<string, unknown>[] };
    const respaced = JSON.stringify({ rules: rules.map((rule) => Object.fromEntries(Object.entries(rule).reverse())) }, null, 2);
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: name, lifecyclePolicyText: respaced }));
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({ created: false, repaired: [], warnings: [] });
  });

  it('turns scan on push back on', async () => {
    const { ecr, name } = await created('scan');
    await ecr.send(new PutImageScanningConfigurationCommand({ repositoryName: name, imageScanningConfiguration: { scanOnPush: false } }));
    expect(await new EcrRepositoryStore(ecr, later).ensure(name, source)).toEqual({ created: false, repaired: ['scan on push'], warnings: [] });
    const [repo] = await describeRepository(ecr, name);
    expect(repo?.imageScanningConfiguration).toEqual({ scanOnPush: true });
  });

  it('puts back a removed managed-by tag and a changed source tag, and keeps the tags of others', async () => {
    const { ecr, name, arn } = await created('tags');
    await ecr.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'team', Value: 'platform' }, { Key: 'source', Value: 'quay.io/else' }] }));
    await ecr.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['managed-by'] }));
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({ created: false, repaired: ['tag managed-by', 'tag source'], warnings: [] });
    expect(await tagsOf(ecr, arn)).toEqual({ 'managed-by': 'image-mirror', source, team: 'platform' });
  });

  it('reports an encryption other than the configured one, and fails nothing', async () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const { ecr, name } = await created('aes');
    expect(await new EcrRepositoryStore(ecr, { ...later, kmsKey: key }).check(name, source)).toEqual({
      created: false,
      repaired: [],
      warnings: [`encryption is AES256, configured KMS key ${key}: encryption cannot change; recreate the repository to change it`],
    });
    const kms = await created('kms', { kmsKey: key });
    expect(await new EcrRepositoryStore(kms.ecr, later).check(kms.name, source)).toMatchObject({ warnings: [`encryption is KMS key ${key}, configured AES256: encryption cannot change; recreate the repository to change it`] });
    // The key given by its id is the same key.
    expect(await new EcrRepositoryStore(kms.ecr, { ...later, kmsKey: '11111111-2222-3333-4444-555555555555' }).check(kms.name, source)).toMatchObject({ warnings: [] });
  });

  it('creates the repository all the same when its lifecycle policy fails, and the next ensure sets it', async () => {
    const ecr = client();
    const name = `mirror/${uniqueName('half')}`;
    const send = ecr.send.bind(ecr);
    const refused = Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } });
    const spy = vi.spyOn(ecr, 'send').mockImplementation(((command: Parameters<typeof send>[0]) => {
      if (command instanceof PutLifecyclePolicyCommand) return Promise.reject(refused);
      return send(command);
    }) as typeof ecr.send);
    expect(await new EcrRepositoryStore(ecr).ensure(name, source)).toEqual({
      created: true,
      repaired: [],
      warnings: [
        `could not set the lifecycle policy of the new repository: ServiceUnavailableException: Service unavailable; the image was not held back for it, and the next check tries again`,
      ],
    });
    expect(await describeRepository(ecr, name)).toHaveLength(1);
    spy.mockRestore();

    // Moments later the repository is still new: the policy is its creation finished, no drift; later it is drift.
    expect(await new EcrRepositoryStore(ecr).ensure(name, source)).toEqual({ created: false, repaired: [], warnings: [] });
    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: name }));
    expect(JSON.parse(policy.lifecyclePolicyText ?? '{}')).toEqual(JSON.parse(lifecyclePolicy(14)));
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    expect(await new EcrRepositoryStore(ecr, later).ensure(name, source)).toMatchObject({ repaired: ['lifecycle policy'] });
  });

  /** ECR refusing every command of these classes with AccessDeniedException, as a role without the actions would. */
  function denying(ecr: ECRClient, ...refused: (abstract new (...args: never[]) => object)[]) {
    const send = ecr.send.bind(ecr);
    const denied = (command: object) =>
      Object.assign(new Error(`User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ecr:${command.constructor.name.replace(/Command$/, '')}`), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      });
    return vi.spyOn(ecr, 'send').mockImplementation(((command: Parameters<typeof send>[0]) =>
      refused.some((type) => command instanceof type) ? Promise.reject(denied(command)) : send(command)) as typeof ecr.send);
  }
  const held = '; the image was not held back for it, and the next check tries again';
  const notAuthorized = (action: string) => `AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ecr:${action}${held}`;

  it('warns, and fails nothing, when ECR refuses to show the lifecycle policy or the tags', async () => {
    const { ecr, name, arn } = await created('no-reads');
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    await ecr.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['source'] }));
    const sent = denying(ecr, GetLifecyclePolicyCommand, ListTagsForResourceCommand);
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({
      created: false,
      repaired: [],
      warnings: [`could not check the lifecycle policy: ${notAuthorized('GetLifecyclePolicy')}`, `could not check the tags: ${notAuthorized('ListTagsForResource')}`],
    });
    // What could not be read is not written blindly.
    expect(sent.mock.calls.map(([command]) => command.constructor.name)).not.toContain('PutLifecyclePolicyCommand');
    expect(sent.mock.calls.map(([command]) => command.constructor.name)).not.toContain('TagResourceCommand');
  });

  it('warns, and fails nothing, when ECR refuses to put back scan on push, the lifecycle policy or the tags, and says only what it did put back', async () => {
    const { ecr, name, arn } = await created('no-repairs');
    await ecr.send(new PutImageScanningConfigurationCommand({ repositoryName: name, imageScanningConfiguration: { scanOnPush: false } }));
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    await ecr.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['managed-by'] }));
    denying(ecr, PutImageScanningConfigurationCommand, TagResourceCommand);
    expect(await new EcrRepositoryStore(ecr, later).ensure(name, source)).toEqual({
      created: false,
      repaired: ['lifecycle policy'],
      warnings: [`could not turn scan on push back on: ${notAuthorized('PutImageScanningConfiguration')}`, `could not put back the managed-by tag: ${notAuthorized('TagResource')}`],
    });
    vi.restoreAllMocks();
    denying(ecr, PutLifecyclePolicyCommand);
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({
      created: false,
      repaired: ['scan on push', 'tag managed-by'],
      warnings: [`could not put back the lifecycle policy: ${notAuthorized('PutLifecyclePolicy')}`],
    });
    vi.restoreAllMocks();
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({ created: false, repaired: ['lifecycle policy'], warnings: [] });
  });

  it('says nothing was replaced when ECR refuses to replace a lifecycle policy of its own', async () => {
    const { ecr, name } = await created('keep-own');
    const own = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 3 }, action: { type: 'expire' } }] });
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: name, lifecyclePolicyText: own }));
    denying(ecr, PutLifecyclePolicyCommand);
    expect(await new EcrRepositoryStore(ecr, later).check(name, source)).toEqual({
      created: false,
      repaired: [],
      warnings: [`could not replace its lifecycle policy with the managed one: ${notAuthorized('PutLifecyclePolicy')}`],
    });
  });

  it('still fails when ECR refuses to describe or to create the repository, naming the step, retryable by the status', async () => {
    const { ecr, name } = await created('no-describe');
    denying(ecr, DescribeRepositoriesCommand);
    const failed = new EcrRepositoryStore(ecr).check(name, source);
    await expect(failed).rejects.toThrow(RepositoryStoreError);
    await expect(failed).rejects.toThrow(`describing ECR repository "${name}": User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ecr:DescribeRepositories`);
    await expect(failed).rejects.toMatchObject({ retryable: false });
    vi.restoreAllMocks();

    const fresh = client();
    const absent = `mirror/${uniqueName('no-create')}`;
    denying(fresh, CreateRepositoryCommand);
    await expect(new EcrRepositoryStore(fresh).ensure(absent, source)).rejects.toThrow(`creating ECR repository "${absent}": User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ecr:CreateRepository`);
  });

  it('shares one check between jobs at once, and tells only one of them what it put back', async () => {
    const { ecr, name } = await created('one-check');
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: name }));
    const sent = vi.spyOn(ecr, 'send');
    const store = new EcrRepositoryStore(ecr, later);
    const reports = await Promise.all([store.check(name, source), store.check(name, source), store.ensure(name, source)]);
    expect(reports.map((report) => report?.repaired)).toEqual([['lifecycle policy'], [], []]);
    expect(sent.mock.calls.filter(([command]) => command instanceof DescribeRepositoriesCommand)).toHaveLength(1);
  });
});

describe('EcrRepositoryStore.listManaged against moto', () => {
  it('lists the repositories under the prefix tagged managed-by=image-mirror, with their source, but those excepted', async () => {
    const ecr = client();
    const prefix = uniqueName('list');
    const store = new EcrRepositoryStore(ecr);
    await store.ensure(`${prefix}/quay.io/a`, 'quay.io/a');
    await store.ensure(`${prefix}/quay.io/b`, 'quay.io/b');
    await store.ensure(`${prefix}/quay.io/kept`, 'quay.io/kept');
    await store.ensure(`${prefix}-other/quay.io/a`, 'quay.io/a');
    await ecr.send(new CreateRepositoryCommand({ repositoryName: `${prefix}/by-hand`, tags: [{ Key: 'team', Value: 'x' }] }));
    const sent = vi.spyOn(ecr, 'send');
    const listing = await store.listManaged(prefix, new Set([`${prefix}/quay.io/kept`]));
    expect(listing).toEqual({ total: 4, repositories: [{ name: `${prefix}/quay.io/a`, source: 'quay.io/a' }, { name: `${prefix}/quay.io/b`, source: 'quay.io/b' }] });
    // Tags are read only for repositories not excepted.
    expect(sent.mock.calls.filter(([command]) => command instanceof ListTagsForResourceCommand)).toHaveLength(3);
  });

  it('names what it was listing when ECR fails', async () => {
    const broken = new ECRClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(new EcrRepositoryStore(broken).listManaged('mirror')).rejects.toThrow(/^listing ECR repositories under "mirror\/": /);
  });
});

describe('EcrCredentialProvider against moto', () => {
  it('decodes the registry credentials of GetAuthorizationToken for the target host only', async () => {
    const provider = new EcrCredentialProvider(client(), stack().targetRegistry);
    expect(await provider.credentialsFor(stack().targetRegistry)).toEqual({ username: 'AWS', password: stack().targetPassword });
    expect(await provider.credentialsFor('docker.io')).toBeUndefined();
  });
});
