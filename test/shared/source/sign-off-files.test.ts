import { execFile } from 'node:child_process';
import { chmod, mkdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { SignOffText } from '../../../shared/ports.ts';
import { MAX_DOCKERFILE_BYTES } from '../../../shared/source/entries.ts';
import { LocalSignOffReader } from '../../../shared/source/sign-off-files.ts';
import { runUnprivileged, treesPerTest } from '../../support/hostile-tree.ts';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../../..');
const POSTGRES = 'docker.io/library/postgres/Dockerfile';
const SIGN_OFF = 'docker.io/library/postgres/.trivyignore.yaml';
const YAML = 'vulnerabilities:\n  - id: CVE-2024-0001\n    statement: not reachable from the entry point\n';
const LINK = 'it is a symbolic link, which is not followed';

/** A temporary images tree readable by every user, removed after the test. */
const tree = treesPerTest('image-mirror-sign-offs-');

describe('LocalSignOffReader', () => {
  it('reads the sign-off file beside the Dockerfile, its path below the images root', async () => {
    const dir = await tree({ [POSTGRES]: 'FROM postgres:14\n', [SIGN_OFF]: YAML });

    expect(await new LocalSignOffReader(dir).read(POSTGRES)).toEqual({ path: SIGN_OFF, text: YAML });
  });

  it('reads the one beside a Dockerfile at the images root', async () => {
    const dir = await tree({ Dockerfile: 'FROM postgres:14\n', '.trivyignore.yaml': YAML });

    expect(await new LocalSignOffReader(dir).read('Dockerfile')).toEqual({ path: '.trivyignore.yaml', text: YAML });
  });

  it('answers undefined when there is no sign-off file, nor even the directory', async () => {
    const dir = await tree({ [POSTGRES]: 'FROM postgres:14\n', 'docker.io/library/redis/.trivyignore.yaml': YAML });
    const reader = new LocalSignOffReader(dir);

    expect(await reader.read(POSTGRES)).toBeUndefined();
    expect(await reader.read('quay.io/a/b/Dockerfile')).toBeUndefined();
  });

  it('refuses a sign-off file that is a symbolic link, even to a file of the tree', async () => {
    const dir = await tree({ [POSTGRES]: 'FROM postgres:14\n', 'docker.io/library/redis/.trivyignore.yaml': YAML });
    await symlink('../redis/.trivyignore.yaml', join(dir, SIGN_OFF));

    expect(await new LocalSignOffReader(dir).read(POSTGRES)).toEqual({ path: SIGN_OFF, readError: LINK });
  });

  it('refuses a directory on the way that is a symbolic link, and reads nothing behind it', async () => {
    const outside = await tree({ 'postgres/.trivyignore.yaml': YAML });
    const dir = await tree();
    await mkdir(join(dir, 'docker.io'));
    await symlink(outside, join(dir, 'docker.io/library'));

    expect(await new LocalSignOffReader(dir).read(POSTGRES)).toEqual({ path: SIGN_OFF, readError: '"docker.io/library" on its way is a symbolic link, which is not followed' });
  });

  it('refuses a FIFO or a directory named .trivyignore.yaml, without waiting on the FIFO', async () => {
    const dir = await tree({ [POSTGRES]: 'FROM postgres:14\n', 'quay.io/a/b/Dockerfile': 'FROM quay.io/a/b:1\n' });
    await run('mkfifo', [join(dir, SIGN_OFF)]);
    await mkdir(join(dir, 'quay.io/a/b/.trivyignore.yaml'));
    const reader = new LocalSignOffReader(dir);

    expect(await reader.read(POSTGRES)).toEqual({ path: SIGN_OFF, readError: 'it is not a regular file' });
    expect(await reader.read('quay.io/a/b/Dockerfile')).toEqual({ path: 'quay.io/a/b/.trivyignore.yaml', readError: 'it is not a regular file' });
  });

  it('refuses a file larger than 1 MiB, and reads one of exactly 1 MiB', async () => {
    const big = `${YAML}#${'x'.repeat(MAX_DOCKERFILE_BYTES - YAML.length)}`;
    const limit = big.slice(0, MAX_DOCKERFILE_BYTES);
    const dir = await tree({ [SIGN_OFF]: big, 'quay.io/a/b/.trivyignore.yaml': limit });
    const reader = new LocalSignOffReader(dir);

    expect(await reader.read(POSTGRES)).toEqual({ path: SIGN_OFF, readError: `it is ${MAX_DOCKERFILE_BYTES + 1} bytes, more than the ${MAX_DOCKERFILE_BYTES} allowed` });
    expect(await reader.read('quay.io/a/b/Dockerfile')).toEqual({ path: 'quay.io/a/b/.trivyignore.yaml', text: limit });
  });

  it.each([
    ['../outside/Dockerfile', '../outside/.trivyignore.yaml'],
    ['docker.io/../../outside/Dockerfile', 'docker.io/../../outside/.trivyignore.yaml'],
    ['./outside/Dockerfile', './outside/.trivyignore.yaml'],
    ['docker.io//outside/Dockerfile', 'docker.io//outside/.trivyignore.yaml'],
  ])('refuses %s, which could lead out of the images root', async (dockerfilePath, path) => {
    const parent = await tree({ 'outside/.trivyignore.yaml': YAML, 'images/docker.io/outside/.trivyignore.yaml': YAML, 'images/outside/.trivyignore.yaml': YAML });

    expect(await new LocalSignOffReader(join(parent, 'images')).read(dockerfilePath)).toEqual({
      path,
      readError: `"${dockerfilePath}" is not a path below the images root, so no sign-off file is read for it`,
    });
  });

  it('refuses an absolute path, even one into the images root', async () => {
    const dir = await tree({ [SIGN_OFF]: YAML });
    const dockerfilePath = join(dir, POSTGRES);

    const read = await new LocalSignOffReader(dir).read(dockerfilePath);

    expect(read?.readError).toBe(`"${dockerfilePath}" is not a path below the images root, so no sign-off file is read for it`);
    expect(read?.text).toBeUndefined();
  });

  it('says why a file it may not read is unreadable, without the machine path', async () => {
    const dir = await tree({ [SIGN_OFF]: YAML });
    await chmod(join(dir, SIGN_OFF), 0o000);
    const script = `import { LocalSignOffReader } from ${JSON.stringify(join(repoRoot, 'shared/source/sign-off-files.ts'))};
process.stdout.write(JSON.stringify(await new LocalSignOffReader(process.argv[1]).read(${JSON.stringify(POSTGRES)})));`;

    const child = await runUnprivileged(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script, dir], { cwd: repoRoot });

    expect(child.code, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout) as SignOffText).toEqual({ path: SIGN_OFF, readError: 'EACCES: permission denied' });
  });
});
