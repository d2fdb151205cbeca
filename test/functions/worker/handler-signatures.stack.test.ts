import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../../scripts/lib/oci-seed.ts';
import { METRIC } from '../../../shared/observability/names.ts';
import type { VerifyRule } from '../../../shared/plan/policy.ts';
import type { MirrorResult } from '../../../shared/ports.ts';
import { captureJsonLines, emfMetrics, lambdaContext } from '../../support/lambda.ts';
import { generateSigningKey, pushSignature, signLegacyWithKey } from '../../support/signing.ts';
import { motoEnv, stack, uniqueName } from '../../support/stack.ts';

type Handler = (event: unknown, context: unknown) => Promise<MirrorResult>;

// The worker as Lambda runs it, with the rule the scheduler attaches: a cosign signature made in the test with a
// generated key, in cosign's `.sig` layout, on the real source registry; moto ECR; real crane.

describe('worker handler with a signature rule in the event (moto ECR, real registries, real crane)', () => {
  const s = stack();
  const ns = uniqueName('wsig');
  const prefix = `lambda-${ns}`;
  const saved = { ...process.env };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const targetRepo = (repo: string) => `${prefix}/${s.sourceRegistry.replace(':', '-')}/${ns}/${repo}`;
  const key = generateSigningKey();
  const rule: VerifyRule = { name: 'acme', images: [`${s.sourceRegistry}/${ns}/**`], by: 'key', key: { path: 'keys/acme.pub', pem: key.publicPem } };
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: s.awsEndpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

  afterAll(() => {
    process.env = saved;
  });

  async function loadHandler(env: Record<string, string> = {}): Promise<Handler> {
    vi.resetModules();
    process.env = { ...saved, ...motoEnv(s), TARGET: `${s.targetRegistry}/${prefix}`, TARGET_IS_ECR: 'true', CRANE_PATH: s.crane, ...env };
    return (await import('../../../functions/worker/handler.ts')).handler as unknown as Handler;
  }

  async function signed(repo: string): Promise<{ digest: string; sigTag: string; sigDigest: string }> {
    const image = await pushImage({ registry: s.sourceRegistry }, `${ns}/${repo}`, '1');
    const signature = signLegacyWithKey(image.digest, `${s.sourceRegistry}/${ns}/${repo}`, key);
    const sigDigest = await pushSignature(s.sourceRegistry, `${ns}/${repo}`, signature);
    return { digest: image.digest, sigTag: `${image.digest.replace(':', '-')}.sig`, sigDigest };
  }

  async function repositoryExists(name: string): Promise<boolean> {
    return ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })).then(
      () => true,
      (error: unknown) => {
        if ((error as Error).name === 'RepositoryNotFoundException') return false;
        throw error;
      },
    );
  }

  it('verifies a signed image, copies it with its .sig tag, and says so on its line', async () => {
    const image = await signed('app');
    const handler = await loadHandler();
    const { value, error, lines } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/app:1`, verify: rule, runId: 'run-1' }, lambdaContext('worker')));
    expect(error).toBeUndefined();
    const verified = { rule: 'acme', by: 'key', identity: 'keys/acme.pub', signature: 'cosign-tag' };
    expect(value).toMatchObject({ status: 'copied', digest: image.digest, verified, artifacts: { copied: 1 } });
    expect(await manifestDigest(target, targetRepo('app'), '1')).toBe(image.digest);
    expect(await manifestDigest(target, targetRepo('app'), image.sigTag)).toBe(image.sigDigest);
    expect(lines.find((line) => line.message === 'image copied')).toMatchObject({ verified, artifacts: { copied: 1 } });
    const [emf] = emfMetrics(lines);
    expect(emf).toMatchObject({ [METRIC.copied]: 1 });
    expect(emf).not.toHaveProperty(METRIC.unverified);
  });

  it('refuses an unsigned image the rule covers: ImagesUnverified, nothing copied, no repository created', async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/unsigned`, '1');
    const handler = await loadHandler();
    const { value, error, lines } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/unsigned:1`, verify: rule }, lambdaContext('worker')));
    expect(error).toBeUndefined();
    expect(value).toMatchObject({ status: 'failed', reason: 'unverified', retryable: false });
    expect(value?.error).toContain(`${s.sourceRegistry}/${ns}/unsigned`);
    expect(lines.find((line) => line.message === 'image failed')).toMatchObject({ level: 'ERROR', reason: 'unverified', retryable: false });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.unverified]: 1, [METRIC.failed]: 1 });
    expect(await repositoryExists(targetRepo('unsigned'))).toBe(false);
  });

  it('refuses an image signed with another key', async () => {
    await signed('other');
    const handler = await loadHandler();
    const otherKey: VerifyRule = { ...rule, key: { path: 'keys/other.pub', pem: generateSigningKey().publicPem } };
    const { value, lines } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/other:1`, verify: otherKey }, lambdaContext('worker')));
    expect(value).toMatchObject({ status: 'failed', reason: 'unverified' });
    expect(emfMetrics(lines)[0]).toMatchObject({ [METRIC.unverified]: 1 });
    expect(await repositoryExists(targetRepo('other'))).toBe(false);
  });

  it('still verifies with ARTIFACTS=none, and copies the image alone', async () => {
    const image = await signed('bare');
    const handler = await loadHandler({ ARTIFACTS: 'none' });
    const { value } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/bare:1`, verify: rule }, lambdaContext('worker')));
    expect(value).toMatchObject({ status: 'copied', verified: { rule: 'acme', by: 'key' } });
    expect(await manifestDigest(target, targetRepo('bare'), '1')).toBe(image.digest);
    expect(await manifestDigest(target, targetRepo('bare'), image.sigTag)).toBeUndefined();
  });

  it('fails the event, never mirroring unverified, when its rule is malformed', async () => {
    await signed('malformed');
    const handler = await loadHandler();
    const { value, lines } = await captureJsonLines(() => handler({ source: `${s.sourceRegistry}/${ns}/malformed:1`, verify: { ...rule, key: { path: 'keys/acme.pub', pem: 'not a key' } } }, lambdaContext('worker')));
    expect(value).toMatchObject({ status: 'failed', retryable: false });
    expect(value?.error).toContain('"verify.key.pem" (rule "acme")');
    expect(lines.find((line) => line.message === 'image failed')).toBeDefined();
    expect(await repositoryExists(targetRepo('malformed'))).toBe(false);
  });
});
