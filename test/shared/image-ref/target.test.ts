import { describe, expect, it } from 'vitest';
import { TargetNameError } from '../../../shared/errors.ts';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { digestTag, parseEcrRegistry, parseTargetBase, targetFor, validateNameTemplate } from '../../../shared/image-ref/target.ts';

const D = `sha256:${'b'.repeat(64)}`;
const ecr = parseTargetBase('123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror');

describe('targetFor', () => {
  it.each([
    ['postgres:14', '{registry}/{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/docker.io/library/postgres:14'],
    ['quay.io/prometheus/node-exporter:v1.8.2', '{registry}/{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/quay.io/prometheus/node-exporter:v1.8.2'],
    ['localhost:5000/team/app:1', '{registry}/{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/localhost-5000/team/app:1'],
    ['postgres:14', '{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/library/postgres:14'],
    ['ghcr.io/a/b:2', 'mirrors/{registry}/{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/mirrors/ghcr.io/a/b:2'],
    [`postgres:14@${D}`, '{registry}/{repository}', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/docker.io/library/postgres:14'],
    [`postgres@${D}`, '{registry}/{repository}', `123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/docker.io/library/postgres:sha256-${'b'.repeat(64)}`],
  ])('maps %s with %s to %s', (source, template, expected) => {
    expect(formatReference(targetFor(parseImageReference(source), ecr, template))).toBe(expected);
  });

  it('puts images at the registry root when the target has no prefix', () => {
    expect(formatReference(targetFor(parseImageReference('alpine:3.20'), parseTargetBase('localhost:5000')))).toBe('localhost:5000/docker.io/library/alpine:3.20');
  });

  it.each([
    ['docker.io/a/b__c:1', 'breaks ECR naming rules'],
    ['docker.io/a/b---c:1', 'breaks ECR naming rules'],
    [`quay.io/${'a/'.repeat(122)}b:1`, 'is longer than 256 characters'],
  ])('refuses %s whose target breaks ECR rules: %s', (source, message) => {
    expect(() => targetFor(parseImageReference(source), ecr)).toThrow(TargetNameError);
    expect(() => targetFor(parseImageReference(source), ecr)).toThrow(message);
  });
});

describe('parseTargetBase', () => {
  it('splits host and prefix', () => {
    expect(parseTargetBase('127.0.0.1:5102/team/mirror/')).toEqual({ registry: '127.0.0.1:5102', prefix: 'team/mirror' });
    expect(parseTargetBase('Registry.Example.com')).toEqual({ registry: 'registry.example.com', prefix: '' });
  });

  it.each([
    ['', 'is not a registry host'],
    ['http://x', 'is not a registry host'],
    ['host/Mirror', 'prefix "Mirror" must be lowercase'],
    ['host/a//b', 'prefix "a//b"'],
    // crane would push to Docker Hub while our lookups asked https://myregistry: a first part with no "." and no port is a Docker Hub path.
    ['myregistry/mirror', 'invalid target "myregistry/mirror": crane reads "myregistry" with no "." and no port as a path on Docker Hub (docker.io/myregistry/mirror)'],
    ['myregistry', 'as a path on Docker Hub (docker.io/myregistry)'],
    ['localhost/mirror', 'crane reads "localhost" with no "." and no port as a path on Docker Hub'],
  ])('refuses %j', (text, message) => {
    expect(() => parseTargetBase(text)).toThrow(TargetNameError);
    expect(() => parseTargetBase(text)).toThrow(message);
  });

  it.each(['myregistry:5000/mirror', 'localhost:5000', 'registry.internal/mirror', 'docker.io/myuser'])('takes %s as a registry host', (text) => {
    expect(parseTargetBase(text).registry).toBe(text.split('/')[0]);
  });
});

describe('validateNameTemplate', () => {
  it('accepts the seed layout and the default', () => {
    expect(() => validateNameTemplate('{repository}')).not.toThrow();
    expect(() => validateNameTemplate('{registry}/{repository}')).not.toThrow();
  });
  it.each([
    ['{registry}', 'it must contain {repository}'],
    ['{registry}/{repo}', 'unknown placeholder {repo}'],
  ])('refuses %s', (template, message) => {
    expect(() => validateNameTemplate(template)).toThrow(message);
  });
});

describe('ECR hosts', () => {
  it('recognises private ECR endpoints only', () => {
    expect(parseEcrRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({ accountId: '123456789012', region: 'eu-west-1' });
    expect(parseEcrRegistry('123456789012.dkr.ecr-fips.us-east-1.amazonaws.com')).toEqual({ accountId: '123456789012', region: 'us-east-1' });
    expect(parseEcrRegistry('public.ecr.aws')).toBeUndefined();
    expect(parseEcrRegistry('127.0.0.1:5102')).toBeUndefined();
  });
  it('tags digest-only images with a legal tag', () => {
    expect(digestTag(D)).toBe(`sha256-${'b'.repeat(64)}`);
  });
});
