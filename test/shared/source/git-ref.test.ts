import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GitRefDockerfileSource, locateInGit, resolveCommit } from '../../../shared/source/git-ref.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { LocalDockerfileSource } from '../../../shared/source/local-dir.ts';
import { git, makeGitRepo, writeFiles } from '../../support/git.ts';
import { GitSourceError } from '../../../shared/errors.ts';

describe('GitRefDockerfileSource', () => {
  it('reads a commit exactly as the local source reads the same tree', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, {
      'README.md': 'not an image\n',
      'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      'images/quay.io/a/b/Dockerfile': '\uFEFFFROM quay.io/a/b:1\r\nRUN echo ünïcödé\r\n',
      'images/docker.io/library/redis/Dockerfile.dev': 'FROM redis:7\n',
      'images/.hidden/x/Dockerfile': 'FROM hidden:1\n',
      'images/big/Dockerfile': `FROM big:1\n#${'x'.repeat(MAX_DOCKERFILE_BYTES)}\n`,
      'Dockerfile': 'FROM outside:1\n',
      'images/linked/.keep': '',
    });
    await symlink('../docker.io/library/postgres/Dockerfile', join(repo, 'images/linked/Dockerfile'));
    await writeFiles(repo, {}, 'the tree');

    const location = await locateInGit(join(repo, 'images'));
    expect(location.prefix).toBe('images/');
    const fromGit = await new GitRefDockerfileSource(location, await resolveCommit(location.root, 'HEAD')).list();
    const fromDisk = await new LocalDockerfileSource(join(repo, 'images')).list();
    expect(fromGit).toEqual(fromDisk);
    expect(fromGit.map((entry) => entry.path)).toEqual([
      'big/Dockerfile',
      'docker.io/library/postgres/Dockerfile',
      'linked/Dockerfile',
      'quay.io/a/b/Dockerfile',
    ]);
    expect(fromGit.find((entry) => entry.path === 'linked/Dockerfile')?.readError).toBe('it is a symbolic link, which is not followed');
  });

  it('warns about a committed symbolic link, which it cannot tell from a link to a directory', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'images/docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n', 'images/.github/.keep': '', 'images/README.md': 'hello\n' });
    await symlink('docker.io/library', join(repo, 'images/library'));
    await symlink('README.md', join(repo, 'images/readme'));
    await symlink('../docker.io', join(repo, 'images/.github/linked'));
    await symlink('images/docker.io', join(repo, 'linked-outside'));
    await writeFiles(repo, {}, 'links');

    const location = await locateInGit(join(repo, 'images'));
    const entries = await new GitRefDockerfileSource(location, await resolveCommit(location.root, 'HEAD')).list();

    const warning = 'it is a symbolic link, which is not followed: if it points to a directory, no Dockerfile below it is mirrored';
    expect(entries).toEqual([
      { path: 'docker.io/library/postgres/Dockerfile', text: 'FROM postgres:14\n' },
      { path: 'library', warning },
      { path: 'readme', warning },
    ]);
  });

  it('reads an older commit, not the work tree', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'images/a/b/Dockerfile': 'FROM a/b:1\n' }, 'one');
    await writeFiles(repo, { 'images/a/b/Dockerfile': 'FROM a/b:2\n', 'images/c/d/Dockerfile': 'FROM c/d:1\n' }, 'two');
    await writeFiles(repo, { 'images/a/b/Dockerfile': 'FROM a/b:3\n' });
    const location = await locateInGit(join(repo, 'images'));
    const entries = await new GitRefDockerfileSource(location, await resolveCommit(location.root, 'HEAD~1')).list();
    expect(entries).toEqual([{ path: 'a/b/Dockerfile', text: 'FROM a/b:1\n' }]);
  });

  it('finds nothing at a commit before the images directory existed', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'README.md': 'hello\n' }, 'start');
    await writeFiles(repo, { 'images/a/b/Dockerfile': 'FROM a/b:1\n' }, 'images');
    const location = await locateInGit(join(repo, 'images'));
    expect(await new GitRefDockerfileSource(location, await resolveCommit(location.root, 'HEAD~1')).list()).toEqual([]);
  });

  it('reads a tree at the repository root', async () => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'a/b/Dockerfile': 'FROM a/b:1\n' }, 'root tree');
    const location = await locateInGit(repo);
    expect(location.prefix).toBe('');
    expect(await new GitRefDockerfileSource(location, (await git(repo, 'rev-parse', 'HEAD')).trim()).list()).toEqual([{ path: 'a/b/Dockerfile', text: 'FROM a/b:1\n' }]);
  });

  it.each([
    ['a ref that names nothing', 'no-such-branch', '"no-such-branch" names no commit'],
    ['something that looks like an option', '--output=/tmp/x', '"--output=/tmp/x" is not a git ref'],
  ])('refuses %s', async (_, ref, message) => {
    const repo = await makeGitRepo();
    await writeFiles(repo, { 'a/Dockerfile': 'FROM a:1\n' }, 'one');
    await expect(resolveCommit(repo, ref)).rejects.toThrow(GitSourceError);
    await expect(resolveCommit(repo, ref)).rejects.toThrow(message);
  });

  it('says when a directory is not in a git work tree', async () => {
    await expect(locateInGit('/')).rejects.toThrow('"/" is not inside a git work tree');
  });
});
