import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Octokit } from 'octokit';
import { ConfigError, describeError } from '../../../shared/errors.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { GitHubDockerfileSource, type GitHubSourceOptions } from '../../../shared/source/github.ts';
import type { Fault, FakeEndpoint, FakeFile, FakeGitHub, FakeGitHubOptions } from '../../support/fake-github.ts';
import { fakeGitHubPerTest } from '../../support/fake-github-per-test.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';

const TOKEN = 'ghp_imageMirrorTestToken0123456789abcdefXYZ';

const { start: startGitHub, octokit, failureOf } = fakeGitHubPerTest(TOKEN);

/** The source over a real octokit, configured as the scheduler builds it: no retry plugin waits, no throttling. */
function sourceFor(github: FakeGitHub, options: Partial<GitHubSourceOptions> = {}, token = TOKEN): GitHubDockerfileSource {
  return new GitHubDockerfileSource(octokit(github, token), { owner: 'octo', repo: 'images', path: 'images', ...options });
}

function dockerfiles(count: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`images/docker.io/library/app-${String(i).padStart(3, '0')}/Dockerfile`, `FROM app-${i}:1\n`]));
}

const text = (path: string, content: string): DockerfileEntry => ({ path, text: content });

const repository: Record<string, FakeFile> = {
  'README.md': '# images\n',
  '.github/workflows/sync.yml': 'on: push\n',
  '.github/dependabot.yml': 'version: 2\n',
  Dockerfile: 'FROM node:20\n',
  'docs/images/docker.io/library/nginx/Dockerfile': 'FROM nginx:1\n',
  'imagesx/docker.io/library/nginx/Dockerfile': 'FROM nginx:1\n',
  'images/README.md': 'one directory per image\n',
  'images/.templates/Dockerfile': 'FROM template:1\n',
  'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
  'images/docker.io/library/postgres/Dockerfile.bak': 'FROM postgres:13\n',
  'images/docker.io/library/redis/dockerfile': 'FROM redis:7\n',
  'images/docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
  'images/quay.io/prometheus/node-exporter/Dockerfile': 'FROM quay.io/prometheus/node-exporter:v1.8.2\n',
  'images/ghcr.io/hadolint/hadolint/Dockerfile': 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n',
};

const expected: DockerfileEntry[] = [
  text('docker.io/library/postgres/Dockerfile', 'FROM postgres:14\n'),
  text('docker.io/library/redis/Dockerfile', 'FROM redis:7\n'),
  text('ghcr.io/hadolint/hadolint/Dockerfile', 'FROM ghcr.io/hadolint/hadolint:v2.12.0\n'),
  text('quay.io/prometheus/node-exporter/Dockerfile', 'FROM quay.io/prometheus/node-exporter:v1.8.2\n'),
];

describe('GitHubDockerfileSource', () => {
  it('lists exactly the Dockerfiles below the images root, with their texts', async () => {
    const github = await startGitHub({ files: repository });
    const source = sourceFor(github);

    expect(await source.list()).toEqual(expected);
    expect(source.stats).toEqual({ apiCalls: 3, truncatedFallback: false });
  });

  it('reads the ref it is given instead of the default branch', async () => {
    const github = await startGitHub({ files: repository, refs: { 'v2.0.0': { 'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:16\n' } } });

    expect(await sourceFor(github, { ref: 'v2.0.0' }).list()).toEqual([text('docker.io/library/postgres/Dockerfile', 'FROM postgres:16\n')]);
    expect(github.requests.map((request) => request.path)).toEqual(['/repos/octo/images/git/trees/v2.0.0?recursive=true', '/graphql']);
  });

  it('reads the whole repository when the images root is empty', async () => {
    const github = await startGitHub({ files: { Dockerfile: 'FROM node:20\n', 'a/Dockerfile': 'FROM a:1\n', '.github/Dockerfile': 'FROM hidden:1\n' } });

    expect(await sourceFor(github, { path: '' }).list()).toEqual([text('a/Dockerfile', 'FROM a:1\n'), text('Dockerfile', 'FROM node:20\n')]);
  });

  it.each([
    ['the default branch', {}, ['repo', 'tree', 'graphql', 'graphql', 'graphql']],
    ['an explicit ref', { ref: 'main' }, ['tree', 'graphql', 'graphql', 'graphql']],
  ])('reads 250 Dockerfiles of %s in one tree call and one GraphQL query per 100', async (_, options: Partial<GitHubSourceOptions>, calls) => {
    const github = await startGitHub({ files: { ...dockerfiles(250), 'README.md': '# images\n' } });
    const source = sourceFor(github, options);

    const entries = await source.list();

    expect(entries).toHaveLength(250);
    expect(entries[249]).toEqual(text('docker.io/library/app-249/Dockerfile', 'FROM app-249:1\n'));
    expect(github.requests.map((request) => request.endpoint)).toEqual(calls);
    expect(source.stats).toEqual({ apiCalls: calls.length, truncatedFallback: false });
    const batches = github.requests.filter((request) => request.endpoint === 'graphql').map((request) => Object.keys((request.body as { variables: object }).variables).length - 2);
    expect(batches).toEqual([100, 100, 50]);
  });

  it('sends smaller GraphQL batches when asked to', async () => {
    const github = await startGitHub({ files: dockerfiles(5) });
    const source = sourceFor(github, { ref: 'main', batchSize: 2 });

    expect(await source.list()).toHaveLength(5);
    expect(source.stats.apiCalls).toBe(4);
  });

  it.each([0, 101, 1.5])('refuses a batch size of %s', (batchSize) => {
    expect(() => new GitHubDockerfileSource(new Octokit(), { owner: 'octo', repo: 'images', path: 'images', batchSize })).toThrow(ConfigError);
  });

  it.each([
    ['the recursive root listing is truncated', { truncate: [''] }, 4],
    ['the images subtree listing is truncated too', { truncate: ['', 'images'] }, 8],
    ['every recursive listing over 3 entries is truncated', { maxTreeEntries: 3 }, 20],
  ])('lists the same complete tree when %s', async (_, truncation: Partial<FakeGitHubOptions>, calls) => {
    const files = { ...repository, ...dockerfiles(6) };
    const whole = await startGitHub({ files });
    const complete = await sourceFor(whole).list();
    await whole.close();
    const github = await startGitHub({ files, ...truncation });
    const source = sourceFor(github);

    const entries = await source.list();

    expect(complete).toHaveLength(expected.length + 6);
    expect(entries).toEqual(complete);
    expect(source.stats).toEqual({ apiCalls: calls, truncatedFallback: true });
    expect(github.requests).toHaveLength(calls);
    expect(github.requests.filter((request) => request.path.endsWith('recursive=true') && request.endpoint === 'tree').length).toBeGreaterThan(1);
  });

  it('reports each file it cannot read with the reason, and reads the others', async () => {
    const huge = `FROM huge:1\n${'#'.repeat(MAX_DOCKERFILE_BYTES)}\n`;
    const github = await startGitHub({
      files: {
        'images/a/binary/Dockerfile': Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x00, 0xff]),
        'images/a/huge/Dockerfile': huge,
        'images/a/gone/Dockerfile': 'FROM gone:1\n',
        'images/a/link/Dockerfile': { symlink: '../ok/Dockerfile' },
        'images/a/long/Dockerfile': `FROM long:1\n${'#'.repeat(100)}\n`,
        'images/a/ok/Dockerfile': 'FROM ok:1\n',
      },
      unreadable: ['images/a/gone/Dockerfile'],
      blobTextLimit: 64,
    });

    expect(await sourceFor(github).list()).toEqual([
      { path: 'a/binary/Dockerfile', readError: 'it is a binary file' },
      { path: 'a/gone/Dockerfile', readError: `GitHub returned no object for blob ${github.shaOf('images/a/gone/Dockerfile')}` },
      { path: 'a/huge/Dockerfile', readError: `it is ${Buffer.byteLength(huge)} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed` },
      { path: 'a/link/Dockerfile', readError: 'it is a symbolic link, which is not followed' },
      { path: 'a/long/Dockerfile', readError: 'GitHub returned its text truncated' },
      text('a/ok/Dockerfile', 'FROM ok:1\n'),
    ]);
    const query = github.requests.find((request) => request.endpoint === 'graphql')?.body as { variables: Record<string, string> };
    expect(Object.values(query.variables)).not.toContain(github.shaOf('images/a/huge/Dockerfile'));
  });

  it.each([
    ['listed in one call', {}, { apiCalls: 3, truncatedFallback: false }],
    ['walked because the listing is truncated', { truncate: [''] }, { apiCalls: 4, truncatedFallback: true }],
  ])('warns about a symbolic link, which it cannot tell from a link to a directory, %s', async (_, truncation: Partial<FakeGitHubOptions>, stats) => {
    const github = await startGitHub({
      files: { ...repository, 'images/library': { symlink: 'docker.io/library' }, 'images/.templates/linked': { symlink: '../docker.io' }, 'docs/linked': { symlink: '../images' } },
      ...truncation,
    });
    const source = sourceFor(github);

    expect(await source.list()).toEqual([
      expected[0],
      expected[1],
      expected[2],
      { path: 'library', warning: 'it is a symbolic link, which is not followed: if it points to a directory, no Dockerfile below it is mirrored' },
      expected[3],
    ]);
    expect(source.stats).toEqual(stats);
  });

  it('turns a GraphQL error tied to one file into that file\'s error', async () => {
    const github = await startGitHub({ files: repository });
    github.setFault('graphql', { partial: true, graphqlErrors: [{ type: 'SERVICE_UNAVAILABLE', path: ['repository', 'f1'], locations: [{ line: 1, column: 80 }], message: 'Blob could not be loaded.' }] });

    const entries = await sourceFor(github).list();

    expect(entries).toEqual([expected[0], { path: 'docker.io/library/redis/Dockerfile', readError: 'GitHub answered: Blob could not be loaded.' }, expected[2], expected[3]]);
  });

  it('reads the files of the tree it listed, even when a push lands in between', async () => {
    let pushed = false;
    const github: FakeGitHub = await startGitHub({
      files: repository,
      onRequest: (request) => {
        if (request.endpoint !== 'tree' || pushed) return;
        pushed = true;
        github.push({ ...repository, 'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:16\n' });
      },
    });

    expect(await sourceFor(github).list()).toEqual(expected);
    expect(pushed).toBe(true);
  });

  it('keeps paths that need escaping intact through the GraphQL query', async () => {
    const files = {
      'images/docker.io/we"ird/Dockerfile': 'FROM quote:1\n',
      'images/docker.io/back\\slash/Dockerfile': 'FROM backslash:1\n',
      'images/docker.io/brace } ) $var/Dockerfile': 'FROM brace:1\n',
      'images/docker.io/ünïcødé/Dockerfile': 'FROM unicode:1\n',
    };
    const github = await startGitHub({ files });

    const entries = await sourceFor(github).list();

    expect(Object.fromEntries(entries.map((entry) => [`images/${entry.path}`, entry.text]))).toEqual(files);
  });

  it('says so when the repository has no images root', async () => {
    const github = await startGitHub({ files: { 'README.md': '# nothing here\n' } });

    const error = await failureOf(sourceFor(github).list());

    expect(error.message).toBe('listing the tree of octo/images@main: there is no directory "images" in it');
  });

  const resetAt = 2_000_000_000;
  it.each<[string, FakeEndpoint, Fault, string, boolean]>([
    ['a 401 on the tree', 'tree', { status: 401 }, 'listing the tree of octo/images@main: GitHub answered 401 Unauthorized (bad, expired or missing token)', false],
    [
      'a rate-limited 403 on the tree',
      'tree',
      { status: 403, rateLimited: true, resetAt },
      'listing the tree of octo/images@main: GitHub answered 403 Forbidden: rate limited until 2033-05-18T03:33:20.000Z',
      true,
    ],
    ['a plain 403 on the tree', 'tree', { status: 403 }, 'listing the tree of octo/images@main: GitHub answered 403 Forbidden: Resource not accessible by personal access token', false],
    ['a 404 on the tree', 'tree', { status: 404 }, 'listing the tree of octo/images@main: GitHub answered 404 Not Found: repository or ref not found (or the token cannot see it)', false],
    ['a 409 on the tree', 'tree', { status: 409 }, 'listing the tree of octo/images@main: GitHub answered 409 Conflict: Git Repository is empty.', false],
    ['a 500 on the tree', 'tree', { status: 500 }, 'listing the tree of octo/images@main: GitHub answered 500 Internal Server Error', true],
    ['a 502 on the tree', 'tree', { status: 502 }, 'listing the tree of octo/images@main: GitHub answered 502 Bad Gateway', true],
    ['a dropped connection on the tree', 'tree', { disconnect: true }, 'listing the tree of octo/images@main: could not reach GitHub: other side closed', true],
    ['a 401 on the repository', 'repo', { status: 401 }, 'looking up the default branch of octo/images: GitHub answered 401 Unauthorized (bad, expired or missing token)', false],
    [
      'GraphQL errors',
      'graphql',
      { graphqlErrors: [{ type: 'FORBIDDEN', path: ['repository'], message: 'Resource not accessible by integration' }] },
      'reading Dockerfiles 1 to 4 of 4 from octo/images@main: GitHub answered with GraphQL errors: Resource not accessible by integration (FORBIDDEN)',
      false,
    ],
    [
      'a GraphQL rate limit',
      'graphql',
      { rateLimited: true, resetAt, graphqlErrors: [{ type: 'RATE_LIMITED', message: 'API rate limit exceeded for user ID 1.' }] },
      'reading Dockerfiles 1 to 4 of 4 from octo/images@main: GitHub answered with GraphQL errors: rate limited until 2033-05-18T03:33:20.000Z: API rate limit exceeded for user ID 1. (RATE_LIMITED)',
      true,
    ],
    [
      'a GraphQL failure on GitHub\'s side',
      'graphql',
      { graphqlErrors: [{ message: 'Something went wrong while executing your query. Please include `0400:3F0A:1B2C` when reporting this issue.' }] },
      'reading Dockerfiles 1 to 4 of 4 from octo/images@main: GitHub answered with GraphQL errors: Something went wrong while executing your query. Please include `0400:3F0A:1B2C` when reporting this issue.',
      true,
    ],
    ['a 502 on GraphQL', 'graphql', { status: 502 }, 'reading Dockerfiles 1 to 4 of 4 from octo/images@main: GitHub answered 502 Bad Gateway', true],
  ])('rejects %s with a message naming the repository and the step', async (_, endpoint, fault, message, retryable) => {
    const github = await startGitHub({ files: repository });
    github.setFault(endpoint, fault);

    const error = await failureOf(sourceFor(github).list());

    expect(error.message).toBe(message);
    expect(error.retryable).toBe(retryable);
    if (fault.rateLimited) expect(error.resetAt).toEqual(new Date(resetAt * 1000));
    expect(describeError(error)).not.toContain(TOKEN);
    expect(inspect(error, { depth: 10 })).not.toContain(TOKEN);
  });

  it('says how long to wait when GitHub hits a secondary rate limit', async () => {
    const github = await startGitHub({ files: repository });
    github.setFault('tree', { status: 403, headers: { 'retry-after': '60' }, message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' });
    const before = Date.now();

    const error = await failureOf(sourceFor(github).list());

    expect(error.message).toBe(`listing the tree of octo/images@main: GitHub answered 403 Forbidden: rate limited until ${error.resetAt?.toISOString()}`);
    expect(error.retryable).toBe(true);
    expect(error.resetAt?.getTime()).toBeGreaterThanOrEqual(before + 60_000);
    expect(error.resetAt?.getTime()).toBeLessThan(before + 70_000);
  });

  it('rejects a token GitHub does not accept, without showing it', async () => {
    const wrong = 'ghp_revokedTokenThatMustNotLeak9876543210';
    const github = await startGitHub({ files: repository });

    const error = await failureOf(sourceFor(github, {}, wrong).list());

    expect(error.message).toBe('looking up the default branch of octo/images: GitHub answered 401 Unauthorized (bad, expired or missing token)');
    expect(describeError(error)).toContain('Bad credentials');
    expect(inspect(error, { depth: 10 })).not.toContain(wrong);
  });
});
