import { DeleteLifecyclePolicyCommand, DescribeRepositoriesCommand, ECRClient, GetLifecyclePolicyCommand, ListTagsForResourceCommand, PutImageScanningConfigurationCommand } from '@aws-sdk/client-ecr';
import { describe, expect, it, vi } from 'vitest';
import { EcrRepositoryStore, lifecyclePolicy } from '../../../shared/ecr/repository-store.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../../shared/image-ref/target.ts';
import type { MirrorJob } from '../../../shared/plan/plan.ts';
import { mirrorImage, type SyncDeps } from '../../../shared/sync/mirror-image.ts';
import { createSyncDeps } from '../../../shared/wiring/sync.ts';
import { pushImage } from '../../../scripts/lib/oci-seed.ts';
import { stack, uniqueName } from '../../support/stack.ts';

describe('mirrorImage into ECR repositories (moto, the htpasswd registry for the endpoint)', () => {
  const s = stack();
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const ns = uniqueName('mi-ecr');
  const base = parseTargetBase(`${s.targetRegistry}/${ns}`);
  // Ten minutes on: the repositories of this test are old enough that a missing policy is drift, not a creation under way.
  const store = new EcrRepositoryStore(ecr, { now: () => Date.now() + 10 * 60_000 });
  const deps: SyncDeps = {
    ...createSyncDeps({ target: base, ecr: false, crane: s.crane, copyTimeoutMs: 60_000, credentials: new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]]) }),
    repositories: store,
  };
  const jobFor = (ref: string): MirrorJob => {
    const source = parseImageReference(ref);
    return { source, target: targetFor(source, base), files: ['Dockerfile'] };
  };
  const exists = (name: string) => ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })).then(() => true, () => false);

  it('creates no repository for a source that does not exist', async () => {
    const job = jobFor(`${s.sourceRegistry}/${ns}/never-pushed:1`);
    await expect(mirrorImage(job, deps)).rejects.toThrow(/no such image \(404\)/);
    expect(await exists(job.target!.repository)).toBe(false);
  });

  it('puts a deleted lifecycle policy back on a run that skips the image, and says so', async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1');
    const job = jobFor(`${s.sourceRegistry}/${ns}/app:1`);
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'copied', repository: { created: true } });
    await ecr.send(new DeleteLifecyclePolicyCommand({ repositoryName: job.target!.repository }));
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'skipped', repository: { repaired: ['lifecycle policy'] } });
    const policy = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: job.target!.repository }));
    expect(JSON.parse(policy.lifecyclePolicyText ?? '{}')).toEqual(JSON.parse(lifecyclePolicy(14)));
    const again = await mirrorImage(job, deps);
    expect(again.status).toBe('skipped');
    expect(again.repository).toBeUndefined();
  });

  it('skips and copies all the same when ECR refuses to read or repair the repository, with a warning on the result', async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/denied`, '1');
    await pushImage({ registry: s.sourceRegistry }, `${ns}/denied`, '2');
    const job = jobFor(`${s.sourceRegistry}/${ns}/denied:1`);
    expect(await mirrorImage(job, deps)).toMatchObject({ status: 'copied', repository: { created: true } });
    await ecr.send(new PutImageScanningConfigurationCommand({ repositoryName: job.target!.repository, imageScanningConfiguration: { scanOnPush: false } }));

    // A role built without the read and repair actions: every one of them refused.
    const limited = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const send = limited.send.bind(limited);
    const refused = [GetLifecyclePolicyCommand, ListTagsForResourceCommand, PutImageScanningConfigurationCommand];
    vi.spyOn(limited, 'send').mockImplementation(((command: Parameters<typeof send>[0]) =>
      refused.some((type) => command instanceof type)
        ? Promise.reject(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }))
        : send(command)) as typeof limited.send);
    const denied: SyncDeps = { ...deps, repositories: new EcrRepositoryStore(limited, { now: () => Date.now() + 10 * 60_000 }) };
    const warnings = [
      'could not check the lifecycle policy: AccessDeniedException: not authorized; the image was not held back for it, and the next check tries again',
      'could not check the tags: AccessDeniedException: not authorized; the image was not held back for it, and the next check tries again',
      'could not turn scan on push back on: AccessDeniedException: not authorized; the image was not held back for it, and the next check tries again',
    ];
    expect(await mirrorImage(job, denied)).toEqual({ status: 'skipped', digest: expect.any(String), repository: { warnings } });
    expect(await mirrorImage(jobFor(`${s.sourceRegistry}/${ns}/denied:2`), denied)).toMatchObject({ status: 'copied', repository: { warnings } });
  });
});
