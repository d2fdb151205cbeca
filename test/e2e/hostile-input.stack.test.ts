import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { COLLIDING_CASES, HOSTILE_CASES } from '../fixtures/hostile-dockerfiles.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { stack, uniqueName } from '../support/stack.ts';

describe('mirror sync on a tree full of hostile Dockerfiles', () => {
  it('reports each bad file, mirrors every good one, and hands crane only validated references', async () => {
    const s = stack();
    const ns = uniqueName('hostile');
    const good = {
      a: (await pushImage({ registry: s.sourceRegistry }, `${ns}/ok-a`, '1')).digest,
      b: (await pushImage({ registry: s.sourceRegistry }, `${ns}/ok-b`, '2', { format: 'docker' })).digest,
    };
    const images = await writeImagesTree({
      [`${s.sourceRegistry}/${ns}/ok-a/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/ok-a:1\n`,
      [`${s.sourceRegistry}/${ns}/ok-b/Dockerfile`]: `ARG TAG=2\nFROM ${s.sourceRegistry}/${ns}/ok-b:\${TAG}\n`,
    });
    for (const c of [...HOSTILE_CASES, ...COLLIDING_CASES]) {
      await mkdir(dirname(join(images, c.path)), { recursive: true });
      await writeFile(join(images, c.path), c.content);
    }
    // A directory link out of the tree is not followed, and a linked Dockerfile is refused.
    const outside = await writeImagesTree({ 'evil/Dockerfile': `FROM ${s.sourceRegistry}/${ns}/ok-a:1\n` });
    await symlink(join(outside, 'evil'), join(images, 'docker.io', 'linked-dir'));
    await symlink(join(outside, 'evil', 'Dockerfile'), join(images, 'docker.io', 'bad', 'Dockerfile'));

    const shimDir = join(images, '..', `${ns}-shim`);
    await mkdir(shimDir, { recursive: true });
    const shim = join(shimDir, 'crane');
    await writeFile(shim, `#!/bin/sh\nprintf '%s\\n' "$*" >> "${shimDir}/calls"\nexec "${s.crane}" "$@"\n`);
    await chmod(shim, 0o755);
    const credentials = join(shimDir, 'credentials.json');
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }));

    const run = await runCli(
      ['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, '--allow-registry', s.sourceRegistry, '--allow-registry', 'docker.io', '--allow-registry', 'quay.io', '--json'],
      { CRANE: shim },
    );
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;

    expect(report.results.map((r) => [r.source, r.status])).toEqual([
      [`${s.sourceRegistry}/${ns}/ok-a:1`, 'copied'],
      [`${s.sourceRegistry}/${ns}/ok-b:2`, 'copied'],
    ]);
    const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
    expect(await manifestDigest(target, `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/ok-a`, '1')).toBe(good.a);
    expect(await manifestDigest(target, `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/ok-b`, '2')).toBe(good.b);

    for (const c of [...HOSTILE_CASES, ...COLLIDING_CASES]) {
      const issue = report.errors.find((e) => e.file === c.path);
      expect(issue?.message, `${c.name} (${c.path})`).toContain(c.error);
    }
    expect(report.errors.find((e) => e.file === 'docker.io/bad/Dockerfile')?.message).toContain('symbolic link');
    expect(report.errors.some((e) => e.file.startsWith('docker.io/linked-dir'))).toBe(false);
    expect(report.summary.invalid).toBe(HOSTILE_CASES.length + COLLIDING_CASES.length + 1);

    // The sync's preflight runs `crane version` once, before any copy.
    const [preflight, ...calls] = (await readFile(join(shimDir, 'calls'), 'utf8')).trim().split('\n');
    expect(preflight).toBe('version');
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call).toMatch(new RegExp(`^copy ${s.sourceRegistry}/${ns}/ok-[ab]@sha256:[0-9a-f]{64} ${s.targetRegistry}/${ns}/[a-z0-9./-]+:[12]$`));
    }
  });
});
