import { execFile } from 'node:child_process';
import { chmod, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { DockerfileEntry } from '../../../shared/ports.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { LocalDockerfileSource } from '../../../shared/source/local-dir.ts';
import { nestPastPathMax, runUnprivileged, treesPerTest } from '../../support/hostile-tree.ts';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../../..');
const DIRECTORY_LINK = 'it is a symbolic link to a directory, which is not followed: no Dockerfile below it is mirrored';
const UNRESOLVED_LINK = 'it is a symbolic link, which is not followed: if it points to a directory, no Dockerfile below it is mirrored';

/** A temporary images tree readable by every user, removed after the test. */
const tree = treesPerTest('image-mirror-local-');

/** The source's listing of `dir` from a child process for whom permission bits hold (as nobody when we are root). */
async function listUnprivileged(dir: string): Promise<DockerfileEntry[]> {
  const script = `import { LocalDockerfileSource } from ${JSON.stringify(join(repoRoot, 'shared/source/local-dir.ts'))};
process.stdout.write(JSON.stringify(await new LocalDockerfileSource(process.argv[1]).list()));`;
  const child = await runUnprivileged(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script, dir], { cwd: repoRoot });
  expect(child.code, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as DockerfileEntry[];
}

describe('LocalDockerfileSource', () => {
  it('lists every Dockerfile outside hidden directories, in path order, and says what it passed over', async () => {
    const dir = await tree({
      'docker.io/library/postgres/Dockerfile': 'FROM postgres:14\n',
      'docker.io/library/postgres/Dockerfile.bak': 'FROM postgres:13\n',
      'docker.io/library/redis/dockerfile': 'FROM redis:7\n',
      'quay.io/a/b/Dockerfile': '\uFEFFFROM quay.io/a/b:1\r\n',
      'big/Dockerfile': `FROM big:1\n#${'x'.repeat(MAX_DOCKERFILE_BYTES)}\n`,
      '.git/x/Dockerfile': 'FROM hidden:1\n',
      'docker.io/.templates/Dockerfile': 'FROM template:1\n',
      'README.md': 'one directory per image\n',
      'linked/.keep': '',
      'fifo/.keep': '',
    });
    const outside = await tree({ 'evil/Dockerfile': 'FROM evil:1\n' });
    await symlink('docker.io/library', join(dir, 'library'));
    await symlink(join(outside, 'evil'), join(dir, 'outside'));
    await symlink('nowhere', join(dir, 'dangling'));
    await symlink('README.md', join(dir, 'readme'));
    await symlink('docker.io', join(dir, '.hidden'));
    await symlink('../docker.io/library/postgres/Dockerfile', join(dir, 'linked/Dockerfile'));
    await run('mkfifo', [join(dir, 'fifo/Dockerfile')]);

    const entries = await new LocalDockerfileSource(dir).list();

    expect(entries).toEqual([
      { path: 'big/Dockerfile', readError: `it is ${MAX_DOCKERFILE_BYTES + 13} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed` },
      { path: 'dangling', warning: UNRESOLVED_LINK },
      { path: 'docker.io/library/postgres/Dockerfile', text: 'FROM postgres:14\n' },
      { path: 'fifo/Dockerfile', readError: 'it is not a regular file' },
      { path: 'library', warning: DIRECTORY_LINK },
      { path: 'linked/Dockerfile', readError: 'it is a symbolic link, which is not followed' },
      { path: 'outside', warning: DIRECTORY_LINK },
      { path: 'quay.io/a/b/Dockerfile', text: '\uFEFFFROM quay.io/a/b:1\r\n' },
    ]);
    expect(JSON.stringify(entries)).not.toContain(outside);
  });

  it('lists in path order, not in the order the parallel reads finish', async () => {
    const names = ['b', 'a', 'A', 'a-b', 'a_b', 'a/x', 'a.b', 'B/c'];
    const dir = await tree(Object.fromEntries(names.map((name) => [`${name}/Dockerfile`, `FROM ${name}:1\n`])));

    const first = await new LocalDockerfileSource(dir).list();

    expect(first.map((entry) => entry.path)).toEqual([
      'a_b/Dockerfile',
      'a-b/Dockerfile',
      'a.b/Dockerfile',
      'a/Dockerfile',
      'A/Dockerfile',
      'a/x/Dockerfile',
      'B/c/Dockerfile',
      'b/Dockerfile',
    ]);
  });

  it('reads thousands of files, each with its own text', async () => {
    const files: Record<string, string> = {};
    for (const registry of ['docker.io', 'ghcr.io', 'quay.io']) {
      for (let org = 0; org < 10; org += 1) {
        for (let image = 0; image < 100; image += 1) files[`${registry}/org${org}/image${image}/Dockerfile`] = `FROM ${registry}/org${org}/image${image}:1\n`;
      }
    }
    const dir = await tree(files);

    const entries = await new LocalDockerfileSource(dir).list();

    expect(entries).toHaveLength(3000);
    expect(entries).toEqual(Object.keys(files).sort((a, b) => a.localeCompare(b)).map((path) => ({ path, text: files[path] })));
    // Writing and reading 3000 files takes 3.5 s alone, more beside the stack tests on two cores: vitest's 5 s default
    // made this a timing assertion, which belongs in `npm run bench`.
  }, 60_000);

  it('turns a directory it may not read into an entry of its own and lists everything else', async () => {
    const dir = await tree({
      'docker.io/a/ok/Dockerfile': 'FROM a/ok:1\n',
      'docker.io/secret/x/Dockerfile': 'FROM secret/x:1\n',
      'docker.io/secret/y/Dockerfile': 'FROM secret/y:1\n',
      'docker.io/z/ok/Dockerfile': 'FROM z/ok:1\n',
      'locked/Dockerfile': 'FROM locked:1\n',
    });
    await chmod(join(dir, 'docker.io/secret'), 0o000);
    await chmod(join(dir, 'locked/Dockerfile'), 0o000);

    const entries = await listUnprivileged(dir);

    expect(entries).toEqual([
      { path: 'docker.io/a/ok/Dockerfile', text: 'FROM a/ok:1\n' },
      { path: 'docker.io/secret/', readError: 'EACCES: permission denied' },
      { path: 'docker.io/z/ok/Dockerfile', text: 'FROM z/ok:1\n' },
      { path: 'locked/Dockerfile', readError: 'EACCES: permission denied' },
    ]);
  });

  it('turns a directory deeper than PATH_MAX into an entry of its own and lists everything else', async () => {
    const dir = await tree({ 'a/Dockerfile': 'FROM a:1\n', 'deep/Dockerfile': 'FROM deep:0\n', 'z/Dockerfile': 'FROM z:1\n' });
    await nestPastPathMax(join(dir, 'deep'), 'FROM deep:1\n');

    const entries = await new LocalDockerfileSource(dir).list();

    expect(entries.map((entry) => entry.path)).toEqual(['a/Dockerfile', expect.stringMatching(/^deep\/(d+\/)+$/), 'deep/Dockerfile', 'z/Dockerfile']);
    const failed = entries[1] as DockerfileEntry;
    expect(failed.readError).toBe('ENAMETOOLONG: name too long');
    // The first directory on the way down whose absolute path, with its final NUL, is longer than PATH_MAX (4096).
    const failedDir = join(dir, failed.path.slice(0, -1));
    expect(Buffer.byteLength(failedDir)).toBeGreaterThanOrEqual(4096);
    expect(Buffer.byteLength(dirname(failedDir))).toBeLessThan(4096);
  });

  it('fails the run when the images root itself cannot be read', async () => {
    const dir = await tree();

    await expect(new LocalDockerfileSource(join(dir, 'missing')).list()).rejects.toThrow('ENOENT');
  });
});
