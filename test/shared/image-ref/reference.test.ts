import { describe, expect, it } from 'vitest';
import { InvalidImageReferenceError } from '../../../shared/errors.ts';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';

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
    ['localhost/app', 'localhost/app:latest'],
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
  ])('refuses %j: %s', (input, message) => {
    expect(() => parseImageReference(input)).toThrow(InvalidImageReferenceError);
    expect(() => parseImageReference(input)).toThrow(message);
  });

  it('names the offending text in the message', () => {
    expect(() => parseImageReference('Foo:1')).toThrow('invalid image reference "Foo:1"');
  });
});
