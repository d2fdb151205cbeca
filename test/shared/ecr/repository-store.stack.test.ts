import {
  DescribeRepositoriesCommand,
  ECRClient,
  GetLifecyclePolicyCommand,
  ListTagsForResourceCommand,
} from '@aws-sdk/client-ecr';
import { describe, expect, it } from 'vitest';
import { EcrCredentialProvider } from '../../../shared/ecr/authorization.ts';
import { EcrRepositoryStore, lifecyclePolicy } from '../../../shared/ecr/repository-store.ts';
import { stack, uniqueName } from '../../support/stack.ts';

const client = () =>
  new ECRClient({ region: 'us-east-1', endpoint: stack().awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

async function describeRepository(ecr: ECRClient, name: string) {
  const found = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }));
  return found.repositories ?? [];
}

describe('EcrRepositoryStore against moto', () => {
  it('creates a missing repository with scan on push, mutable tags, AES256, tags and a lifecycle policy', async () => {
    const ecr = client();
    const name = `mirror/docker.io/library/${uniqueName('pg')}`;
    expect(await new EcrRepositoryStore(ecr).ensure(name, 'docker.io/library/postgres')).toBe('created');

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

  it('leaves an existing repository alone', async () => {
    const ecr = client();
    const name = `mirror/${uniqueName('existing')}`;
    const store = new EcrRepositoryStore(ecr);
    expect(await store.ensure(name, 'quay.io/x')).toBe('created');
    expect(await new EcrRepositoryStore(ecr).ensure(name, 'quay.io/x')).toBe('exists');
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
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'exists')).toHaveLength(7);
    expect(await describeRepository(client(), name)).toHaveLength(1);
  });

  it('shares one creation between jobs of one container', async () => {
    const name = `mirror/${uniqueName('shared')}`;
    const store = new EcrRepositoryStore(client());
    const outcomes = await Promise.all([store.ensure(name, 's'), store.ensure(name, 's'), store.ensure(name, 's')]);
    expect(outcomes).toEqual(['created', 'created', 'created']);
  });

  it('names the repository and the step when ECR fails', async () => {
    const broken = new ECRClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(new EcrRepositoryStore(broken).ensure('mirror/x', 's')).rejects.toThrow(/^describing ECR repository "mirror\/x": /);
  });
});

describe('EcrCredentialProvider against moto', () => {
  it('decodes the registry credentials of GetAuthorizationToken for the target host only', async () => {
    const provider = new EcrCredentialProvider(client(), stack().targetRegistry);
    expect(await provider.credentialsFor(stack().targetRegistry)).toEqual({ username: 'AWS', password: stack().targetPassword });
    expect(await provider.credentialsFor('docker.io')).toBeUndefined();
  });
});
