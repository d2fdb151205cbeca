import { describe, expect, it } from 'vitest';
import { PolicyFileError } from '../../../shared/errors.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { type GitHubPolicyFileOptions, GitHubPolicyFileReader } from '../../../shared/source/github-policy-files.ts';
import type { FakeFile, FakeGitHub } from '../../support/fake-github.ts';
import { fakeGitHubPerTest } from '../../support/fake-github-per-test.ts';

const TOKEN = 'ghp_imageMirrorPolicyToken0123456789abcdefXYZ';
const POLICY = 'rules:\n  - name: acme\n    images: ["quay.io/acme/**"]\n    key: keys/acme.pub\n';
const PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';

const { start: startGitHub, octokit, failureOf } = fakeGitHubPerTest(TOKEN);

function readerFor(github: FakeGitHub, options: Partial<GitHubPolicyFileOptions> = {}): GitHubPolicyFileReader {
  return new GitHubPolicyFileReader(octokit(github), { owner: 'octo', repo: 'images', ...options });
}

const repository: Record<string, FakeFile> = {
  'README.md': '# images\n',
  'images/signature-policy.yaml': POLICY,
  'images/keys/acme.pub': PEM,
  'images/keys/linked.pub': { symlink: '../../secret.pem' },
  'images/keys/binary.pub': new Uint8Array([0, 1, 2, 0, 255]),
  'images/keys/large.pub': 'A'.repeat(MAX_DOCKERFILE_BYTES + 1),
  'images/quay.io/acme/app/Dockerfile': 'FROM quay.io/acme/app:1\n',
  // Outside the images root: never read for the policy.
  'keys/acme.pub': 'outside',
};

describe('GitHubPolicyFileReader', () => {
  it('reads files below the images root of the default branch (HEAD), one GraphQL query each, no REST call', async () => {
    const github = await startGitHub({ files: repository, defaultBranch: 'trunk' });
    const read = readerFor(github).reader;
    expect(await read('signature-policy.yaml')).toBe(POLICY);
    expect(await read('keys/acme.pub')).toBe(PEM);
    expect(github.requests.map((request) => request.endpoint)).toEqual(['graphql', 'graphql']);
    const body = github.requests[0]?.body as { query: string; variables: Record<string, string> };
    // Paths travel as variables, never in the query text.
    expect(body.query).not.toContain('signature-policy');
    expect(body.variables.file).toBe('HEAD:images/signature-policy.yaml');
  });

  it('reads the ref and images root it is given', async () => {
    const github = await startGitHub({ files: repository, refs: { 'v2.0.0': { 'config/images/signature-policy.yaml': 'rules: []\n' } } });
    expect(await readerFor(github, { ref: 'v2.0.0', path: '/config/images/' }).read('signature-policy.yaml')).toBe('rules: []\n');
    expect((github.requests[0]?.body as { variables: Record<string, string> }).variables.file).toBe('v2.0.0:config/images/signature-policy.yaml');
  });

  it('answers undefined for a file that does not exist, nor its directory', async () => {
    const github = await startGitHub({ files: repository });
    const reader = readerFor(github);
    expect(await reader.read('keys/missing.pub')).toBeUndefined();
    expect(await reader.read('roots/private.json')).toBeUndefined();
    expect(await readerFor(github, { path: 'images/quay.io' }).read('signature-policy.yaml')).toBeUndefined();
  });

  it.each([
    ['keys/linked.pub', 'it is a symbolic link, which is not followed'],
    ['keys/binary.pub', 'it is a binary file'],
    ['keys/large.pub', `it is ${MAX_DOCKERFILE_BYTES + 1} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed`],
    ['keys', 'it is not a regular file'],
  ])('refuses %s with PolicyFileError: a file it cannot take never reads as absent', async (path, reason) => {
    const github = await startGitHub({ files: repository });
    const error = await readerFor(github).read(path).then(() => undefined, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PolicyFileError);
    expect((error as Error).message).toBe(`reading "${path}" of the signature policy from octo/images@HEAD (the default branch): ${reason}`);
  });

  it.each(['../keys/acme.pub', '/etc/passwd', 'keys//acme.pub', 'keys/./acme.pub'])('refuses %j, which is no path below the images root, asking GitHub nothing', async (path) => {
    const github = await startGitHub({ files: repository });
    await expect(readerFor(github).read(path)).rejects.toThrow(PolicyFileError);
    expect(github.requests).toEqual([]);
  });

  it('fails loudly, never reading as "no policy", when the images root or the ref is not there', async () => {
    const github = await startGitHub({ files: repository });
    const noRoot = await failureOf(readerFor(github, { path: 'nope' }).read('signature-policy.yaml'));
    expect(noRoot.message).toContain('there is no directory "nope" at that ref (or no such ref)');
    const noRef = await failureOf(readerFor(github, { ref: 'no-such-branch' }).read('signature-policy.yaml'));
    expect(noRef.message).toContain('reading "signature-policy.yaml" of the signature policy from octo/images@no-such-branch');
  });

  it('says what GitHub answered, never the token', async () => {
    const github = await startGitHub({ files: repository });
    github.setFault('graphql', { status: 502 });
    const error = await failureOf(readerFor(github).read('signature-policy.yaml'));
    expect(error.message).toContain('GitHub answered 502');
    expect(error.retryable).toBe(true);
    expect(error.message).not.toContain(TOKEN);
  });
});
