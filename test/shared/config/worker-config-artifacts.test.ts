import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.ts';
import { loadWorkerConfig } from '../../../shared/config/worker-config.ts';

const TARGET = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror';

describe('loadWorkerConfig: ARTIFACTS', () => {
  it('copies signatures when ARTIFACTS is unset or empty', () => {
    expect(loadWorkerConfig({ TARGET }).artifacts).toBe('signatures');
    expect(loadWorkerConfig({ TARGET, ARTIFACTS: ' ' }).artifacts).toBe('signatures');
  });

  it.each([
    ['none', 'none'],
    ['signatures', 'signatures'],
    ['all', 'all'],
    [' All ', 'all'],
  ])('reads ARTIFACTS=%j as %s', (value, mode) => {
    expect(loadWorkerConfig({ TARGET, ARTIFACTS: value }).artifacts).toBe(mode);
  });

  it.each(['sigs', 'signature', 'true', 'none,all'])('refuses ARTIFACTS=%j, naming the variable and the values it takes', (value) => {
    expect(() => loadWorkerConfig({ TARGET, ARTIFACTS: value })).toThrow(ConfigError);
    expect(() => loadWorkerConfig({ TARGET, ARTIFACTS: value })).toThrow(`invalid worker configuration: ARTIFACTS: must be one of none, signatures, all, got "${value}"`);
  });

  it('lists a bad ARTIFACTS beside the other problems, all at once', () => {
    expect(() => loadWorkerConfig({ ARTIFACTS: 'some', MAX_ATTEMPTS: 'x' })).toThrow(/TARGET is required.*MAX_ATTEMPTS.*ARTIFACTS: must be one of none, signatures, all, got "some"/);
  });
});
