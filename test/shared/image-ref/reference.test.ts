import { describe, expect, it } from 'vitest';
import { InvalidImageReferenceError } from '../../../shared/errors.ts';
import { formatReference, namesRegistryHost, normaliseRegistryHost, parseImageReference } from '../../../shared/image-ref/reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    ['postgres', 'docker.io/library/postgres:latest'],
    ['postgres:14', 'docker.io/library/postgres:14'],
    ['amazon/aws-lambda-python:3.12', 'docker.io/amazon/aws-lambda-python:3.12'],
    ['docker.io/postgres:14', 'docker.io/library/postgres:14'],
    ['index.docker.io/library/postgres:14', 'docker.io/library/postgres:14'],
    ['registry-1.docker.io/bitnami/redis', 'docker.io/bitnami/redis:latest'],
    ['quay.io/prometheus/node-exporter:v1.8.2', 'quay.io/prometheus/node-exporter:v1.8.2'],
    ['ghcr.io/hadolint/hadolint', 'ghcr.io/hadolint/hadolint:latest'],
    ['localhost:5000/team/app:1', 'localhost:5000/team/app:1'],
    ['Registry.Example.COM/app:1', 'registry.example.com/app:1'],
    [`postgres@${D}`, `docker.io/library/postgres@${D}`],
    [`postgres:14@${D}`, `docker.io/library/postgres:14@${D}`],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['public.ecr.aws/lambda/python:3.12', 'public.ecr.aws/lambda/python:3.12'],
    ['a/b__c/d-e.f_g:T_1.0-x', 'docker.io/a/b__c/d-e.f_g:T_1.0-x'],
  ])('normalises %s to %s', (input, expected) => {
    expect(formatReference(parseImageReference(input))).toBe(expected);
  });

  it('keeps tag and digest apart', () => {
    expect(parseImageReference(`quay.io/x/y:1.2@${D}`)).toEqual({ registry: 'quay.io', repository: 'x/y', tag: '1.2', digest: D });
    expect(parseImageReference(`quay.io/x/y@${D}`)).toEqual({ registry: 'quay.io', repository: 'x/y', digest: D });
  });

  it.each([
    ['', 'it is empty'],
    ['Postgres:14', 'repository "library/Postgres" must be lowercase'],
    ['quay.io/Prometheus/node', 'must be lowercase'],
    ['postgres:-14', 'tag "-14" may only hold'],
    ['postgres:.14', 'tag ".14" may only hold'],
    ['postgres:14$x', 'tag "14$x" may only hold'],
    [`postgres:${'a'.repeat(129)}`, 'tag is longer than 128 characters'],
    ['postgres@sha256:abc', 'is not sha256 followed by 64 lowercase hex digits'],
    [`postgres@sha256:${'A'.repeat(64)}`, 'is not sha256 followed by 64 lowercase hex digits'],
    [`postgres@md5:${'a'.repeat(32)}`, 'is not a sha256 digest'],
    [`postgres@${D}@${D}`, 'more than one "@"'],
    ['post gres', 'whitespace'],
    ['postgres\n:14', 'whitespace'],
    ['--output=/etc/passwd', 'starts with "-"'],
    ['quay.io//x', 'empty path component'],
    ['quay.io/x/', 'empty path component'],
    ['quay.io/', 'repository name is empty'],
    ['my_registry.io/x', 'is not a valid host name'],
    ['-quay.io/x', 'starts with "-"'],
    ['quay.io/x--/y', 'path component "x--" may only hold'],
    ['quay.io/_x', 'path component "_x"'],
    ['quay.io/a...b', 'path component "a...b"'],
    ['postgres;rm -rf /', 'whitespace'],
    ['postgres;rm', 'path component "postgres;rm"'],
    ['$(id)/x', 'path component "$(id)"'],
    ['../../etc/passwd', 'registry host ".." is not a valid host name'],
    ['quay.io/../x', 'path component ".."'],
    [`quay.io/${'a'.repeat(250)}`, 'longer than 255 characters'],
    ['quay.io:99999999/x', 'is not a valid host name'],
    // crane (go-containerregistry v0.14) reads it as docker.io/localhost/app, Docker as the registry "localhost".
    ['localhost/app', 'crane reads "localhost/…" as a Docker Hub path (docker.io/localhost/…), Docker as the registry "localhost": give its port'],
    ['LocalHost/app:1', 'as a Docker Hub path'],
  ])('refuses %j: %s', (input, message) => {
    expect(() => parseImageReference(input)).toThrow(InvalidImageReferenceError);
    expect(() => parseImageReference(input)).toThrow(message);
  });

  it('names the offending text in the message', () => {
    expect(() => parseImageReference('Foo:1')).toThrow('invalid image reference "Foo:1"');
  });
});

describe('namesRegistryHost (what crane v0.14 takes as a host, name.NewRepository)', () => {
  it.each([
    ['quay.io', true],
    ['localhost:5000', true],
    ['127.0.0.1', true],
    ['myregistry:443', true],
    ['myregistry', false],
    ['localhost', false],
    ['library', false],
  ])('%s: %s', (component, expected) => {
    expect(namesRegistryHost(component)).toBe(expected);
  });
});

describe('normaliseRegistryHost', () => {
  it.each([
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['Quay.IO', 'quay.io'],
    ['localhost:5000', 'localhost:5000'],
    ['myregistry:5000', 'myregistry:5000'],
  ])('normalises %s to %s', (host, expected) => {
    expect(normaliseRegistryHost(host)).toBe(expected);
  });

  it.each([
    ['myregistry', '"myregistry" is not a registry host: crane reads a name with no "." and no port as a path on Docker Hub (docker.io/myregistry/…)'],
    ['localhost', '"localhost" is not a registry host: crane reads a name with no "." and no port as a path on Docker Hub'],
    ['https://myregistry/v2/', 'as a path on Docker Hub (docker.io/myregistry/…)'],
    ['bad host!', '"bad host!" is not a registry host with an optional port'],
    ['', 'is not a registry host with an optional port'],
  ])('refuses %j: %s', (host, message) => {
    expect(() => normaliseRegistryHost(host)).toThrow(InvalidImageReferenceError);
    expect(() => normaliseRegistryHost(host)).toThrow(message);
  });
});
