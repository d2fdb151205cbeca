import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.ts';
import { loadSchedulerConfig } from '../../../shared/config/scheduler-config.ts';
import { loadWorkerConfig } from '../../../shared/config/worker-config.ts';

describe('loadWorkerConfig', () => {
  it('applies defaults and keeps absent options absent', () => {
    const config = loadWorkerConfig({ TARGET: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror' });
    expect(config).toEqual({
      target: { registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', prefix: 'mirror' },
      nameTemplate: '{registry}/{repository}',
      ecr: false,
      crane: '/opt/bin/crane',
      copyTimeoutMs: 840_000,
      platforms: [],
      allowRegistries: [],
      pullReserve: 20,
      maxAttempts: 3,
      retryDelayMs: 20_000,
      artifacts: 'signatures',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every option', () => {
    const config = loadWorkerConfig({
      TARGET: 'localhost:5000/m',
      NAME_TEMPLATE: '{repository}',
      TARGET_IS_ECR: 'true',
      CRANE_PATH: '/usr/local/bin/crane',
      COPY_TIMEOUT_SECONDS: '60',
      SOURCE_CREDENTIALS_SECRET_ID: 'image-mirror/registry-credentials',
      KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/x',
      PLATFORMS: 'linux/amd64, linux/arm64',
      ALLOW_REGISTRIES: 'index.docker.io,quay.io',
      AWS_REGION: 'eu-west-1',
      PULL_RESERVE: '0',
      MAX_ATTEMPTS: '1',
      RETRY_DELAY_SECONDS: '90',
    });
    expect(config).toMatchObject({
      pullReserve: 0,
      maxAttempts: 1,
      retryDelayMs: 90_000,
      ecr: true,
      copyTimeoutMs: 60_000,
      sourceCredentialsSecretId: 'image-mirror/registry-credentials',
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }],
      allowRegistries: ['docker.io', 'quay.io'],
      region: 'eu-west-1',
    });
  });

  it('lists every problem in one error', () => {
    const load = () => loadWorkerConfig({ TARGET_IS_ECR: 'maybe', NAME_TEMPLATE: '{repo}', ALLOW_REGISTRIES: 'not a host' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/TARGET is required.*NAME_TEMPLATE: .*unknown placeholder \{repo\}.*ALLOW_REGISTRIES: .*TARGET_IS_ECR must be true or false, got "maybe"/);
  });

  it('refuses a copy time limit beyond what a Lambda can run (and a timer can hold)', () => {
    expect(() => loadWorkerConfig({ TARGET: 'localhost:5000/m', COPY_TIMEOUT_SECONDS: '2147484' })).toThrow('COPY_TIMEOUT_SECONDS must be a whole number from 1 to 900, got "2147484"');
    expect(loadWorkerConfig({ TARGET: 'localhost:5000/m', COPY_TIMEOUT_SECONDS: '900' }).copyTimeoutMs).toBe(900_000);
    expect(() => loadWorkerConfig({ TARGET: 'localhost:5000/m', PULL_RESERVE: '-1' })).toThrow('PULL_RESERVE must be a whole number from 0 to 100000, got "-1"');
    expect(() => loadWorkerConfig({ TARGET: 'localhost:5000/m', PULL_RESERVE: '007' })).toThrow('PULL_RESERVE must be a whole number from 0 to 100000');
    expect(() => loadWorkerConfig({ TARGET: 'localhost:5000/m', MAX_ATTEMPTS: '0' })).toThrow('MAX_ATTEMPTS must be a whole number from 1 to 10, got "0"');
    expect(() => loadWorkerConfig({ TARGET: 'localhost:5000/m', RETRY_DELAY_SECONDS: '301' })).toThrow('RETRY_DELAY_SECONDS must be a whole number from 1 to 300, got "301"');
  });
});

describe('loadSchedulerConfig', () => {
  const base = { GITHUB_REPOSITORY: 'octo/images', WORKER_FUNCTION_NAME: 'image-mirror-dev-worker', TARGET: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror' };

  it('applies defaults', () => {
    expect(loadSchedulerConfig(base)).toMatchObject({ owner: 'octo', repo: 'images', imagesPath: 'images', githubApiUrl: 'https://api.github.com', maxInFlight: 10 });
    expect(loadSchedulerConfig(base)).not.toHaveProperty('ref');
  });

  it('reads a GitHub Enterprise URL, a ref and a nested images path', () => {
    expect(loadSchedulerConfig({ ...base, GITHUB_API_URL: 'https://ghe.example.com/api/v3/', GITHUB_REF: 'release', IMAGES_PATH: '/mirror/images/', GITHUB_TOKEN_SECRET_ID: 'gh' })).toMatchObject({
      githubApiUrl: 'https://ghe.example.com/api/v3',
      ref: 'release',
      imagesPath: 'mirror/images',
      githubTokenSecretId: 'gh',
    });
  });

  it('lists every problem in one error', () => {
    expect(() => loadSchedulerConfig({ GITHUB_REPOSITORY: 'octo/images', TARGET: 'r.example.com', WORKER_FUNCTION_NAME: 'w', MAX_IN_FLIGHT: '1001' })).toThrow(
      'MAX_IN_FLIGHT must be a whole number from 1 to 1000, got "1001"',
    );
    expect(() => loadSchedulerConfig({ GITHUB_REPOSITORY: 'just-a-name', MAX_IN_FLIGHT: '-1' })).toThrow(
      /GITHUB_REPOSITORY: expected owner\/name, got "just-a-name".*TARGET is required.*WORKER_FUNCTION_NAME is required.*MAX_IN_FLIGHT must be a whole number from 1 to 1000/,
    );
  });
});
