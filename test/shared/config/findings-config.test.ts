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
    expect(config).toEqual({ targetPrefix });
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
});
