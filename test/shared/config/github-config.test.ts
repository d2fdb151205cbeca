import { describe, expect, it } from 'vitest';
import { EnvReader } from '../../../shared/config/env.ts';
import { loadFindingsConfig } from '../../../shared/config/findings-config.ts';
import { readGitHubConfig } from '../../../shared/config/github-config.ts';
import { loadSchedulerConfig } from '../../../shared/config/scheduler-config.ts';

describe('readGitHubConfig', () => {
  it('reads the images repository with its defaults, trimming the images path and the API URL', () => {
    const read = new EnvReader({ IMAGES_PATH: '/mirror/images/', GITHUB_API_URL: 'https://ghe.example.com/api/v3/', GITHUB_REF: 'release', GITHUB_TOKEN_SECRET_ID: 'gh' });
    expect(readGitHubConfig(read, 'octo/images.git-1')).toEqual({
      owner: 'octo',
      repo: 'images.git-1',
      imagesPath: 'mirror/images',
      githubApiUrl: 'https://ghe.example.com/api/v3',
      ref: 'release',
      githubTokenSecretId: 'gh',
    });
    expect(() => read.done('test')).not.toThrow();
    expect(readGitHubConfig(new EnvReader({}), 'octo/images')).toEqual({ owner: 'octo', repo: 'images', imagesPath: 'images', githubApiUrl: 'https://api.github.com' });
  });

  it.each(['octo', 'octo/images/extra', 'octo images/x'])('reports %j as no owner/name, once', (repository) => {
    const read = new EnvReader({});
    expect(readGitHubConfig(read, repository)).toMatchObject({ owner: '', repo: '' });
    expect(() => read.done('test')).toThrow(`invalid test configuration: GITHUB_REPOSITORY: expected owner/name, got "${repository}"`);
  });

  it('leaves an empty repository to the caller, which reports it as required', () => {
    const read = new EnvReader({});
    readGitHubConfig(read, '');
    expect(() => read.done('test')).not.toThrow();
  });

  it('gives the scheduler and the findings function the same settings from the same environment', () => {
    const env = { GITHUB_REPOSITORY: 'octo/images', GITHUB_REF: 'main', IMAGES_PATH: 'images/', GITHUB_API_URL: 'https://ghe.example.com/api/v3', GITHUB_TOKEN_SECRET_ID: 'gh' };
    const scheduler = loadSchedulerConfig({ ...env, TARGET: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror', WORKER_FUNCTION_NAME: 'w' });
    const { webUrl, ...findings } = loadFindingsConfig({ ...env, TARGET_PREFIX: 'mirror' }).github ?? {};
    expect(findings).toEqual({ owner: scheduler.owner, repo: scheduler.repo, ref: scheduler.ref, imagesPath: scheduler.imagesPath, githubApiUrl: scheduler.githubApiUrl, githubTokenSecretId: scheduler.githubTokenSecretId });
    expect(webUrl).toBe('https://ghe.example.com/octo/images/blob/main');
  });
});
