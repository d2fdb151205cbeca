import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { writeImagesTree } from '../support/cli.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { nestPastPathMax, removeTree, runUnprivileged } from '../support/hostile-tree.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await removeTree(dir);
});

/** A temporary directory readable by every user, `nobody` included, whom the CLI runs as when the tests run as root. */
async function readableByAll(dir: string): Promise<string> {
  made.push(dir);
  await chmod(dir, 0o755);
  return dir;
}

describe('mirror sync on a tree with directories it cannot read or follow', () => {
  it('mirrors every valid image and reports each bad directory and the link on its own', async () => {
    const s = stack();
    const ns = uniqueName('hostile-tree');
    const good = {
      a: (await pushImage({ registry: s.sourceRegistry }, `${ns}/ok-a`, '1')).digest,
      b: (await pushImage({ registry: s.sourceRegistry }, `${ns}/ok-b`, '2')).digest,
    };
    const dir = `${s.sourceRegistry}/${ns}`;
    const images = await readableByAll(
      await writeImagesTree({
        [`${dir}/ok-a/Dockerfile`]: `FROM ${dir}/ok-a:1\n`,
        [`${dir}/secret/Dockerfile`]: `FROM ${dir}/secret:1\n`,
        [`${dir}/ok-b/Dockerfile`]: `FROM ${dir}/ok-b:2\n`,
      }),
    );
    // A directory the CLI may not read, one deeper than PATH_MAX, and a link to a directory outside the tree.
    await chmod(join(images, dir, 'secret'), 0o000);
    await mkdir(join(images, 'deep'));
    await nestPastPathMax(join(images, 'deep'), `FROM ${dir}/ok-a:1\n`);
    const outside = await readableByAll(await writeImagesTree({ 'evil/Dockerfile': `FROM ${dir}/ok-a:1\n` }));
    await symlink(join(outside, 'evil'), join(images, 'linked'));
    const work = await readableByAll(await mkdtemp(join(tmpdir(), 'image-mirror-hostile-tree-')));
    const credentials = join(work, 'credentials.json');
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }));

    // The real bin, as nobody when we are root: root reads through permission bits.
    const run = await runUnprivileged(
      join(repoRoot, 'node_modules', '.bin', 'tsx'),
      [join(repoRoot, 'functions', 'cli', 'bin.ts'), 'sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, '--allow-registry', s.sourceRegistry, '--json'],
      { cwd: work, env: { CRANE: s.crane } },
    );

    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => [r.source, r.status])).toEqual([
      [`${dir}/ok-a:1`, 'copied'],
      [`${dir}/ok-b:2`, 'copied'],
    ]);
    const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
    expect(await manifestDigest(target, `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/ok-a`, '1')).toBe(good.a);
    expect(await manifestDigest(target, `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/ok-b`, '2')).toBe(good.b);

    expect(report.errors).toHaveLength(2);
    expect(report.errors).toEqual(
      expect.arrayContaining([
        // The report cuts a name this long and says how long it was.
        { file: expect.stringMatching(/^deep\/(d{200}\/)+.*… \(\d{4} characters\)$/), message: 'reading the directory: ENAMETOOLONG: name too long' },
        { file: `${dir}/secret/`, message: 'reading the directory: EACCES: permission denied' },
      ]),
    );
    expect(report.warnings).toEqual([{ file: 'linked', message: 'it is a symbolic link to a directory, which is not followed: no Dockerfile below it is mirrored' }]);
    expect(report.summary.invalid).toBe(2);
    // Errors name paths from the images root, never the machine's own.
    expect(run.stdout).not.toContain(images);
  });
});
