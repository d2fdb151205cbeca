import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../../shared/errors.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { type GitHubSignOffOptions, GitHubSignOffReader } from '../../../shared/source/github-sign-offs.ts';
import type { FakeFile, FakeGitHub } from '../../support/fake-github.ts';
import { fakeGitHubPerTest } from '../../support/fake-github-per-test.ts';

const TOKEN = 'ghp_imageMirrorTestToken0123456789abcdefXYZ';
const POSTGRES = 'docker.io/library/postgres/Dockerfile';
const SIGN_OFF = 'docker.io/library/postgres/.trivyignore.yaml';
const YAML = 'vulnerabilities:\n  - id: CVE-2024-0001\n    statement: not reachable from the entry point\n';
const REDIS_YAML = 'vulnerabilities:\n  - id: CVE-2024-0002\n    statement: the server is not exposed\n';

const { start: startGitHub, octokit, failureOf } = fakeGitHubPerTest(TOKEN);

/** The reader over a real octokit, built as the Lambdas build it: no retry plugin waits, no throttling. */
function readerFor(github: FakeGitHub, options: Partial<GitHubSignOffOptions> = {}, token = TOKEN): GitHubSignOffReader {
  return new GitHubSignOffReader(octokit(github, token), { owner: 'octo', repo: 'images', ...options });
}

const repository: Record<string, FakeFile> = {
  'README.md': '# images\n',
  [`images/${POSTGRES}`]: 'FROM postgres:14\n',
  [`images/${SIGN_OFF}`]: YAML,
  'images/docker.io/library/redis/Dockerfile': 'FROM redis:7\n',
  'images/docker.io/library/redis/.trivyignore.yaml': REDIS_YAML,
  'images/quay.io/a/b/Dockerfile': 'FROM quay.io/a/b:1\n',
  // Outside the images root: never read for an image.
  'docker.io/library/nginx/.trivyignore.yaml': YAML,
};

describe('GitHubSignOffReader', () => {
  it('reads the sign-off files beside Dockerfiles of the default branch, looked up once', async () => {
    const github = await startGitHub({ files: repository, defaultBranch: 'trunk' });
    const reader = readerFor(github);

    expect(await reader.read(POSTGRES)).toEqual({ path: SIGN_OFF, text: YAML });
    expect(await reader.read('docker.io/library/redis/Dockerfile')).toEqual({ path: 'docker.io/library/redis/.trivyignore.yaml', text: REDIS_YAML });
    expect(github.requests.map((request) => request.endpoint)).toEqual(['repo', 'graphql', 'graphql']);
    const body = github.requests[1]?.body as { query: string; variables: Record<string, string> };
    expect(body.query).not.toContain('postgres');
    expect(body.variables.file).toBe(`trunk:images/${SIGN_OFF}`);
  });

  it('reads the ref and images root it is given, without looking up the default branch', async () => {
    const github = await startGitHub({ files: repository, refs: { 'v2.0.0': { [`config/images/${SIGN_OFF}`]: REDIS_YAML } } });

    expect(await readerFor(github, { ref: 'v2.0.0', path: '/config/images/' }).read(POSTGRES)).toEqual({ path: SIGN_OFF, text: REDIS_YAML });
    expect(github.requests.map((request) => request.endpoint)).toEqual(['graphql']);
  });

  it('reads from the repository root when the images root is empty', async () => {
    const github = await startGitHub({ files: repository });

    expect(await readerFor(github, { path: '' }).read('docker.io/library/nginx/Dockerfile')).toEqual({ path: 'docker.io/library/nginx/.trivyignore.yaml', text: YAML });
  });

  it('answers undefined when there is no sign-off file, nor even the directory', async () => {
    const github = await startGitHub({ files: repository });
    const reader = readerFor(github);

    expect(await reader.read('quay.io/a/b/Dockerfile')).toBeUndefined();
    expect(await reader.read('docker.io/library/nginx/Dockerfile')).toBeUndefined();
  });

  it('refuses a directory, a symbolic link, a binary and an oversized file at that path', async () => {
    const github = await startGitHub({
      files: {
        'images/a/dir/Dockerfile': 'FROM a:1\n',
        'images/a/dir/.trivyignore.yaml/x': YAML,
        'images/a/link/Dockerfile': 'FROM a:2\n',
        'images/a/link/.trivyignore.yaml': { symlink: '../dir/.trivyignore.yaml/x' },
        'images/a/binary/.trivyignore.yaml': new Uint8Array([0x76, 0, 0x31]),
        'images/a/big/.trivyignore.yaml': `${YAML}#${'x'.repeat(MAX_DOCKERFILE_BYTES)}`,
      },
    });
    const reader = readerFor(github);

    expect(await reader.read('a/dir/Dockerfile')).toEqual({ path: 'a/dir/.trivyignore.yaml', readError: 'it is not a regular file' });
    expect(await reader.read('a/link/Dockerfile')).toEqual({ path: 'a/link/.trivyignore.yaml', readError: 'it is a symbolic link, which is not followed' });
    expect(await reader.read('a/binary/Dockerfile')).toEqual({ path: 'a/binary/.trivyignore.yaml', readError: 'it is a binary file' });
    expect(await reader.read('a/big/Dockerfile')).toEqual({
      path: 'a/big/.trivyignore.yaml',
      readError: `it is ${YAML.length + 1 + MAX_DOCKERFILE_BYTES} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed`,
    });
  });

  it('refuses a file whose text GitHub cuts short', async () => {
    const github = await startGitHub({ files: repository, blobTextLimit: 16 });

    expect(await readerFor(github).read(POSTGRES)).toEqual({ path: SIGN_OFF, readError: 'GitHub returned its text truncated' });
  });

  it.each(['../docker.io/library/nginx/Dockerfile', '/docker.io/library/nginx/Dockerfile', './docker.io/library/postgres/Dockerfile'])(
    'refuses %s, which could lead out of the images root, without asking GitHub',
    async (dockerfilePath) => {
      const github = await startGitHub({ files: repository });

      const read = await readerFor(github).read(dockerfilePath);

      expect(read?.readError).toBe(`"${dockerfilePath}" is not a path below the images root, so no sign-off file is read for it`);
      expect(read?.text).toBeUndefined();
      expect(github.requests).toEqual([]);
    },
  );

  it('says so when the ref or the images root does not exist, instead of finding no sign-off file', async () => {
    const github = await startGitHub({ files: repository });

    const noRef = await failureOf(readerFor(github, { ref: 'gone' }).read(POSTGRES));
    const noRoot = await failureOf(readerFor(github, { path: 'imagez' }).read(POSTGRES));

    expect(noRef.message).toBe(`reading the sign-off file "${SIGN_OFF}" from octo/images@gone: there is no directory "images" at that ref (or no such ref)`);
    expect(noRoot.message).toBe(`reading the sign-off file "${SIGN_OFF}" from octo/images@main: there is no directory "imagez" at that ref (or no such ref)`);
  });

  it('names the file and the repository when GitHub fails the query', async () => {
    const github = await startGitHub({ files: repository });
    github.setFault('graphql', { status: 500 });

    const error = await failureOf(readerFor(github, { ref: 'main' }).read(POSTGRES));

    expect(error.message).toBe(`reading the sign-off file "${SIGN_OFF}" from octo/images@main: GitHub answered 500 Internal Server Error`);
    expect(error.retryable).toBe(true);
  });

  it('names the file and the repository when GitHub answers GraphQL errors', async () => {
    const github = await startGitHub({ files: repository });

    const error = await failureOf(readerFor(github, { ref: 'main', repo: 'missing' }).read(POSTGRES));

    expect(error.message).toBe(
      `reading the sign-off file "${SIGN_OFF}" from octo/missing@main: GitHub answered with GraphQL errors: Could not resolve to a Repository with the name 'octo/missing'. (NOT_FOUND)`,
    );
  });

  it('rejects a token GitHub does not accept, without showing it, and looks the default branch up again on the next read', async () => {
    const wrong = 'ghp_revokedTokenThatMustNotLeak9876543210';
    const github = await startGitHub({ files: repository });
    github.setFault('repo', { status: 401 });
    const reader = readerFor(github, {}, wrong);

    const error = await failureOf(reader.read(POSTGRES));

    expect(error.message).toBe(`reading the sign-off file "${SIGN_OFF}" from octo/images: looking up the default branch: GitHub answered 401 Unauthorized (bad, expired or missing token)`);
    expect(error.status).toBe(401);
    expect(describeError(error)).toContain('Bad credentials');
    expect(inspect(error, { depth: 10 })).not.toContain(wrong);
    await failureOf(reader.read(POSTGRES));
    expect(github.requests.map((request) => request.endpoint)).toEqual(['repo', 'repo']);
  });

  it('rejects a token GitHub does not accept on the query itself', async () => {
    const github = await startGitHub({ files: repository });

    const error = await failureOf(readerFor(github, { ref: 'main' }, 'ghp_wrong').read(POSTGRES));

    expect(error.message).toBe(`reading the sign-off file "${SIGN_OFF}" from octo/images@main: GitHub answered 401 Unauthorized (bad, expired or missing token)`);
  });
});
