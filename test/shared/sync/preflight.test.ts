import { describe, expect, it } from 'vitest';
import { CredentialsError, InterruptedError, PreflightError, RegistryRequestError } from '../../../shared/errors.ts';
import { formatReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import { type PreflightChecks, preflightSync } from '../../../shared/sync/preflight.ts';

const plan = buildPlan([{ path: 'quay.io/a/Dockerfile', text: 'FROM quay.io/a:1\n' }, { path: 'quay.io/b/Dockerfile', text: 'FROM quay.io/b:1\n' }], { target: parseTargetBase('registry.example.com/mirror') });
const enoent = () => Object.assign(new Error('spawn /opt/crane ENOENT'), { code: 'ENOENT' });

/** Checks that pass and record what was called, in order; `over` replaces some of them. */
function checksOf(over: Partial<PreflightChecks> = {}, ecr?: Partial<NonNullable<PreflightChecks['ecr']>>) {
  const calls: string[] = [];
  const checks: PreflightChecks = {
    runCrane: async () => void calls.push('crane'),
    reachTarget: async (ref) => void calls.push(`target ${formatReference(ref)}`),
    ...(ecr ? { ecr: { region: async () => (calls.push('region'), 'eu-west-1'), login: async () => void calls.push('login'), ...ecr } } : {}),
    ...over,
  };
  return { checks, calls };
}

const failure = async (checks: PreflightChecks, dryRun = false) => {
  const error = await preflightSync(plan, checks, { crane: '/opt/crane', dryRun }).then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(PreflightError);
  return (error as PreflightError).message;
};

describe('preflightSync', () => {
  it('runs crane and one request to the first target, and passes', async () => {
    const { checks, calls } = checksOf();
    await preflightSync(plan, checks, { crane: 'crane' });
    expect(calls.sort()).toEqual(['crane', 'target registry.example.com/mirror/quay.io/a:1']);
  });

  it('does not run crane for a dry run, and still asks the target', async () => {
    const { checks, calls } = checksOf({ runCrane: async () => Promise.reject(enoent()) });
    await preflightSync(plan, checks, { crane: '/opt/crane', dryRun: true });
    expect(calls).toEqual(['target registry.example.com/mirror/quay.io/a:1']);
  });

  it('checks nothing when there is nothing to mirror', async () => {
    const { checks, calls } = checksOf();
    await preflightSync(buildPlan([], {}), checks, { crane: 'crane' });
    expect(calls).toEqual([]);
  });

  it.each([
    ['crane missing', checksOf({ runCrane: async () => Promise.reject(enoent()) }).checks, 'crane not found ("/opt/crane"): install crane (https://github.com/google/go-containerregistry/tree/main/cmd/crane; the GitHub Action installs one) or give --crane PATH / CRANE'],
    ['crane not executable', checksOf({ runCrane: async () => Promise.reject(Object.assign(new Error('spawn EACCES'), { code: 'EACCES' })) }).checks, 'crane ("/opt/crane") cannot be run (permission denied)'],
    ['crane crashing', checksOf({ runCrane: async () => Promise.reject(new Error('"crane version" exited with code 2: segmentation fault')) }).checks, 'crane ("/opt/crane") does not run: "crane version" exited with code 2: segmentation fault: install crane'],
    [
      'the target refusing the login',
      checksOf({ reachTarget: async () => Promise.reject(new RegistryRequestError('HEAD registry.example.com/mirror/quay.io/a:1: 401 Unauthorized', { status: 401 })) }).checks,
      'the target refused the login for registry.example.com: HEAD registry.example.com/mirror/quay.io/a:1: 401 Unauthorized: check the login for registry.example.com in --credentials or Docker\'s config.json',
    ],
    [
      'the target refusing access',
      checksOf({ reachTarget: async () => Promise.reject(new RegistryRequestError('HEAD …: 403 Forbidden', { status: 403 })) }).checks,
      'the target refused the login for registry.example.com: HEAD …: 403 Forbidden',
    ],
    [
      'the target not answering',
      checksOf({ reachTarget: async () => Promise.reject(new RegistryRequestError('HEAD …: connect ECONNREFUSED 127.0.0.1:1 (after 4 attempts)', { cause: new Error('ECONNREFUSED'), retryable: true })) }).checks,
      'cannot reach the target registry.example.com: HEAD …: connect ECONNREFUSED 127.0.0.1:1 (after 4 attempts)',
    ],
    [
      'the target failing otherwise',
      checksOf({ reachTarget: async () => Promise.reject(new RegistryRequestError('HEAD …: 500 Internal Server Error', { status: 500 })) }).checks,
      'the target registry.example.com failed its first request: HEAD …: 500 Internal Server Error',
    ],
  ])('says what failed and the fix, once: %s', async (_name, checks, message) => {
    expect(await failure(checks)).toContain(message);
  });

  it('names every step that failed in one error', async () => {
    const { checks } = checksOf({ runCrane: async () => Promise.reject(enoent()), reachTarget: async () => Promise.reject(new RegistryRequestError('HEAD …: 401 Unauthorized', { status: 401 })) });
    const message = await failure(checks);
    expect(message).toMatch(/^crane not found \("\/opt\/crane"\): .*; and the target refused the login for registry\.example\.com: /);
  });

  it('asks an ECR target for its region, then its AWS login, then the registry, and stops at the first that fails', async () => {
    const passing = checksOf({}, {});
    await preflightSync(plan, passing.checks, { crane: 'crane', dryRun: true });
    expect(passing.calls).toEqual(['region', 'login', 'target registry.example.com/mirror/quay.io/a:1']);

    const noRegion = checksOf({}, { region: async () => undefined });
    expect(await failure(noRegion.checks, true)).toBe('no AWS region for the ECR target registry.example.com: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile)');
    expect(noRegion.calls).toEqual([]);

    const sdkError = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const noCredentials = checksOf({}, { login: async () => Promise.reject(new CredentialsError('fetching an ECR authorization token for registry.example.com', { cause: sdkError })) });
    expect(await failure(noCredentials.checks, true)).toBe(
      'no AWS credentials for the ECR target registry.example.com (fetching an ECR authorization token for registry.example.com: Could not load credentials from any providers): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role',
    );
    expect(noCredentials.calls).toEqual(['region']);

    const refused = checksOf({}, { login: async () => Promise.reject(new CredentialsError('fetching an ECR authorization token for registry.example.com: The security token included in the request is invalid.')) });
    expect(await failure(refused.checks, true)).toContain('the ECR login for registry.example.com failed: fetching an ECR authorization token for registry.example.com: The security token included in the request is invalid.: check the AWS credentials');
  });

  it('passes an interruption on as it is', async () => {
    const stopped = new InterruptedError('HEAD …: interrupted');
    const { checks } = checksOf({ reachTarget: async () => Promise.reject(stopped) });
    await expect(preflightSync(plan, checks, { crane: 'crane' })).rejects.toBe(stopped);
  });
});
