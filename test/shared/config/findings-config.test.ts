import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.ts';
import { loadFindingsConfig } from '../../../shared/config/findings-config.ts';

describe('loadFindingsConfig', () => {
  it.each([
    ['mirror', 'mirror'],
    ['team/mirror', 'team/mirror'],
    ['/mirror/', 'mirror'],
    [' mirror ', 'mirror'],
  ])('reads TARGET_PREFIX %j as %j', (value, targetPrefix) => {
    const config = loadFindingsConfig({ TARGET_PREFIX: value });
    expect(config).toEqual({ targetPrefix, nameTemplate: '{registry}/{repository}' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{}, 'invalid findings configuration: TARGET_PREFIX is required'],
    [{ TARGET_PREFIX: '' }, 'TARGET_PREFIX is required'],
    [{ TARGET_PREFIX: 'Mirror' }, 'TARGET_PREFIX: "Mirror" must be lowercase path components'],
    [{ TARGET_PREFIX: 'a//b' }, 'TARGET_PREFIX: "a//b" must be lowercase'],
  ])('refuses %j', (env, message) => {
    expect(() => loadFindingsConfig(env)).toThrow(ConfigError);
    expect(() => loadFindingsConfig(env)).toThrow(message);
  });

  it('reads the images repository as the scheduler does, with a link to it on github.com at the ref', () => {
    const config = loadFindingsConfig({
      TARGET_PREFIX: 'mirror',
      NAME_TEMPLATE: '{repository}',
      GITHUB_REPOSITORY: 'octo/images',
      GITHUB_REF: 'release/1',
      IMAGES_PATH: '/images/',
      GITHUB_TOKEN_SECRET_ID: 'image-mirror/github-token',
    });
    expect(config).toEqual({
      targetPrefix: 'mirror',
      nameTemplate: '{repository}',
      github: {
        owner: 'octo',
        repo: 'images',
        ref: 'release/1',
        imagesPath: 'images',
        githubTokenSecretId: 'image-mirror/github-token',
        githubApiUrl: 'https://api.github.com',
        webUrl: 'https://github.com/octo/images/blob/release/1',
      },
    });
    expect(Object.isFrozen(config.github)).toBe(true);
  });

  it.each([
    [{}, 'https://github.com/octo/images/blob/HEAD'],
    [{ GITHUB_API_URL: 'https://ghe.example.com/api/v3/' }, 'https://ghe.example.com/octo/images/blob/HEAD'],
    [{ GITHUB_API_URL: 'http://127.0.0.1:8080' }, undefined],
  ])('links the sign-off files on GitHub\'s web for %j: %s', (env, webUrl) => {
    const { github } = loadFindingsConfig({ TARGET_PREFIX: 'mirror', GITHUB_REPOSITORY: 'octo/images', ...env });
    expect(github?.webUrl).toBe(webUrl);
    expect(github).toMatchObject({ imagesPath: 'images' });
    expect(github).not.toHaveProperty('ref');
    expect(github).not.toHaveProperty('githubTokenSecretId');
  });

  it('reads no images repository without GITHUB_REPOSITORY: no sign-offs are configured', () => {
    expect(loadFindingsConfig({ TARGET_PREFIX: 'mirror', GITHUB_TOKEN_SECRET_ID: 'x', IMAGES_PATH: 'images' })).not.toHaveProperty('github');
  });

  it('lists every problem at once', () => {
    expect(() => loadFindingsConfig({ GITHUB_REPOSITORY: 'octo', NAME_TEMPLATE: '{registry}' })).toThrow(
      'invalid findings configuration: TARGET_PREFIX is required; NAME_TEMPLATE: invalid name template "{registry}": it must contain {repository}; GITHUB_REPOSITORY: expected owner/name, got "octo"',
    );
  });
});
