import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../shared/errors.ts';
import { DEFAULT_GATE_SEVERITIES, parseSeverities } from '../../../shared/findings/vulnerabilities.ts';

describe('parseSeverities', () => {
  it.each([
    ['CRITICAL,HIGH', ['CRITICAL', 'HIGH']],
    ['high,critical', ['CRITICAL', 'HIGH']],
    [' Medium , LOW ', ['MEDIUM', 'LOW']],
    ['HIGH,high,HIGH', ['HIGH']],
    ['unknown,LOW,MEDIUM,HIGH,CRITICAL', ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN']],
  ])('reads "%s" in severity order, each once', (text, expected) => {
    expect(parseSeverities(text)).toEqual(expected);
  });

  it.each([
    ['CRITICAL,SEVERE', '"SEVERE" is no severity'],
    ['CRITICAL,,HIGH', 'an empty entry is no severity'],
    ['', 'an empty entry is no severity'],
    ['INFORMATIONAL', '"INFORMATIONAL" is no severity'],
  ])('refuses "%s", naming the entry and the known severities', (text, problem) => {
    expect(() => parseSeverities(text)).toThrow(UsageError);
    expect(() => parseSeverities(text)).toThrow(problem);
    expect(() => parseSeverities(text)).toThrow('(known: CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)');
  });

  it('gates CRITICAL and HIGH by default', () => {
    expect(DEFAULT_GATE_SEVERITIES).toEqual(parseSeverities('CRITICAL,HIGH'));
  });
});
