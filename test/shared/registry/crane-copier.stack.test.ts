import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CopyFailedError, InterruptedError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { CraneImageCopier, dockerConfig } from '../../../shared/registry/crane-copier.ts';
import { manifestDigest, pushIndex, type SeedTarget } from '../../../scripts/lib/oci-seed.ts';
import { isRunning, waitFor } from '../../support/processes.ts';
import { stack, uniqueName } from '../../support/stack.ts';

describe('CraneImageCopier with the real crane', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const credentials = new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]]);
  const ns = uniqueName('crane');
  let index: Awaited<ReturnType<typeof pushIndex>>;
  let work: string;
  let shim: string;

  beforeAll(async () => {
    index = await pushIndex(source, `${ns}/app`, '1', ['linux/amd64', 'linux/arm64'], { layers: 2 });
    work = await mkdtemp(join(tmpdir(), 'crane-test-'));
    // A wrapper around the real crane that records what crane was given: its config file's mode, its directory's mode, its environment.
    shim = join(work, 'crane-shim');
    await writeFile(
      shim,
      `#!/bin/sh\nstat -c '%a' "$DOCKER_CONFIG" > "${work}/dir-mode"\nstat -c '%a' "$DOCKER_CONFIG/config.json" > "${work}/file-mode"\nenv > "${work}/env"\necho "$@" > "${work}/args"\nexec "${s.crane}" "$@"\n`,
    );
    await chmod(shim, 0o755);
  });

  it('copies a whole index with its digest and every child', async () => {
    await new CraneImageCopier({ crane: s.crane }).copy({ source: parseImageReference(`${s.sourceRegistry}/${ns}/app@${index.index.digest}`), target: parseImageReference(`${s.targetRegistry}/${ns}/app:1`), credentials });
    expect(await manifestDigest(target, `${ns}/app`, '1')).toBe(index.index.digest);
    for (const child of index.children) expect(await manifestDigest(target, `${ns}/app`, child.digest)).toBe(child.digest);
  });

  it('hands crane a private Docker config and none of our secrets, and removes it afterwards', async () => {
    const temp = await mkdtemp(join(work, 'tmp-'));
    process.env.AWS_SECRET_ACCESS_KEY_FOR_TEST = 'must-not-leak';
    try {
      await new CraneImageCopier({ crane: shim, tempDir: temp }).copy({ source: parseImageReference(`${s.sourceRegistry}/${ns}/app:1`), target: parseImageReference(`${s.targetRegistry}/${ns}/shim:1`), credentials });
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY_FOR_TEST;
    }
    expect((await readFile(join(work, 'dir-mode'), 'utf8')).trim()).toBe('700');
    expect((await readFile(join(work, 'file-mode'), 'utf8')).trim()).toBe('600');
    expect(await readFile(join(work, 'env'), 'utf8')).not.toContain('must-not-leak');
    expect((await readFile(join(work, 'args'), 'utf8')).trim()).toBe(`copy ${s.sourceRegistry}/${ns}/app:1 ${s.targetRegistry}/${ns}/shim:1`);
    expect(await readdir(temp)).toEqual([]);
  });

  it('removes the Docker config after a failed copy too, and says what crane said', async () => {
    const temp = await mkdtemp(join(work, 'tmp-'));
    const failure = new CraneImageCopier({ crane: s.crane, tempDir: temp }).copy({ source: parseImageReference(`${s.sourceRegistry}/${ns}/missing:1`), target: parseImageReference(`${s.targetRegistry}/${ns}/missing:1`), credentials });
    await expect(failure).rejects.toThrow(CopyFailedError);
    await expect(failure).rejects.toThrow(/crane copy failed: .*MANIFEST_UNKNOWN/);
    expect(await readdir(temp)).toEqual([]);
  });

  it('fails with a clear message when the target refuses the credentials', async () => {
    const wrong = new Map([[s.targetRegistry, { username: 'AWS', password: 'wrong' }]]);
    await expect(new CraneImageCopier({ crane: s.crane }).copy({ source: parseImageReference(`${s.sourceRegistry}/${ns}/app:1`), target: parseImageReference(`${s.targetRegistry}/${ns}/denied:1`), credentials: wrong })).rejects.toThrow(/UNAUTHORIZED|401/);
  });

  // A crane that hangs and has started a process of its own, as a stuck download would leave one.
  const hangingCrane = async (name: string) => {
    const dir = await mkdtemp(join(work, `${name}-`));
    const crane = join(dir, 'crane');
    await writeFile(crane, `#!/bin/sh\nsleep 60 &\necho $! > "${dir}/child.pid"\necho $$ > "${dir}/crane.pid.tmp"\nmv "${dir}/crane.pid.tmp" "${dir}/crane.pid"\nwait\n`);
    await chmod(crane, 0o755);
    const configs = await mkdtemp(join(dir, 'tmp-'));
    const pids = async () => [Number(await readFile(join(dir, 'crane.pid'), 'utf8')), Number(await readFile(join(dir, 'child.pid'), 'utf8'))];
    // One copy through it, its Docker config made in `configs`.
    const copy = (options: { timeoutMs?: number; signal?: AbortSignal } = {}) =>
      new CraneImageCopier({ crane, tempDir: configs, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) }).copy({
        source: parseImageReference('a/b:1'),
        target: parseImageReference('c/d:1'),
        credentials,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    return { configs, pids, copy, started: () => waitFor(() => readFile(join(dir, 'crane.pid'), 'utf8').then(() => true, () => false)) };
  };

  it('kills crane and everything it started at the time limit, and removes its credentials', async () => {
    const hanging = await hangingCrane('slow');
    const failure = hanging.copy({ timeoutMs: 300 });
    await expect(failure).rejects.toThrow('crane copy timed out after 0.3 s');
    await expect(failure).rejects.toMatchObject({ retryable: true });
    for (const pid of await hanging.pids()) expect(isRunning(pid), `process ${pid}`).toBe(false);
    expect(await readdir(hanging.configs)).toEqual([]);
  });

  it('stops crane and everything it started at once when the run is interrupted, and removes its credentials', async () => {
    const hanging = await hangingCrane('interrupted');
    const stop = new AbortController();
    const copy = hanging.copy({ signal: stop.signal });
    await hanging.started();
    expect((await readdir(hanging.configs)).length).toBe(1);
    stop.abort();
    await expect(copy).rejects.toThrow(InterruptedError);
    for (const pid of await hanging.pids()) expect(isRunning(pid), `process ${pid}`).toBe(false);
    expect(await readdir(hanging.configs)).toEqual([]);
  });

  it('hears of an interruption that came while its Docker config was being written', async () => {
    const hanging = await hangingCrane('midway');
    const stop = new AbortController();
    const copy = hanging.copy({ signal: stop.signal });
    // The copy is past its first check and writing the config: the signal must still reach crane once it starts.
    setImmediate(() => stop.abort());
    await expect(copy).rejects.toThrow(InterruptedError);
    expect(await readdir(hanging.configs)).toEqual([]);
  });

  it('starts nothing and writes no credentials once the run is interrupted', async () => {
    const hanging = await hangingCrane('never');
    const copy = hanging.copy({ signal: AbortSignal.abort() });
    await expect(copy).rejects.toThrow(InterruptedError);
    expect(await readdir(hanging.configs)).toEqual([]);
  });

  it('holds a time limit longer than a timer can (2^31 ms) instead of firing at once', async () => {
    const quick = join(work, 'quick-crane');
    await writeFile(quick, '#!/bin/sh\nsleep 0.3\n');
    await chmod(quick, 0o755);
    await expect(new CraneImageCopier({ crane: quick, timeoutMs: 2_147_484_000 }).copy({ source: parseImageReference('a/b:1'), target: parseImageReference('c/d:1'), credentials })).resolves.toBeUndefined();
  });

  it('says where it looked when crane is missing', async () => {
    await expect(new CraneImageCopier({ crane: join(work, 'nope') }).copy({ source: parseImageReference('a/b:1'), target: parseImageReference('c/d:1'), credentials })).rejects.toThrow(`crane not found at "${join(work, 'nope')}"`);
  });
});

describe('dockerConfig', () => {
  it('writes Docker Hub under its legacy key and others by host', () => {
    const config = JSON.parse(dockerConfig(new Map([['docker.io', { username: 'u', password: 'p' }], ['quay.io', { username: 'q', password: 'r' }]])));
    expect(config).toEqual({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('u:p').toString('base64') }, 'quay.io': { auth: Buffer.from('q:r').toString('base64') } } });
  });
});
