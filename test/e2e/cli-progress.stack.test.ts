import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../functions/cli/main.ts';
import { pushImage } from '../../scripts/lib/oci-seed.ts';
import { writeImagesTree } from '../support/cli.ts';
import { stack, uniqueName } from '../support/stack.ts';

/** What a terminal shows after these writes, for the two controls the live line uses: `\r` and erase-line. */
function screen(text: string): string[] {
  const rows: string[] = [];
  let row = '';
  for (const part of text.split(/(\r\x1b\[2K|\n)/)) {
    if (part === '\n') {
      rows.push(row);
      row = '';
    } else if (part === '\r\x1b[2K') row = '';
    else row += part;
  }
  return [...rows, row];
}

describe('mirror sync on a terminal (real registries)', () => {
  const s = stack();
  const ns = uniqueName('progress');
  let images = '';
  let credentials = '';

  beforeAll(async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/present`, '1');
    const src = `${s.sourceRegistry}/${ns}`;
    images = await writeImagesTree({
      [`${src}/present/Dockerfile`]: `FROM ${src}/present:1\n`,
      [`${src}/missing/Dockerfile`]: `FROM ${src}/missing:1\n`,
    });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  async function dryRun(terminal: boolean) {
    let stdout = '';
    let stderr = '';
    const args = ['sync', '--images', images, '--target', `${s.targetRegistry}/mirror-${ns}`, '--credentials', credentials, '--dry-run'];
    const code = await main(args, {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      env: { ...process.env, CRANE: s.crane, COLUMNS: '' },
      cwd: images,
      stdoutIsTTY: terminal,
      stderrIsTTY: terminal,
      columns: 60,
    });
    return { code, stdout, stderr };
  }

  it('draws one live line, keeps the failure above it, clears it before the report, and fits the table to the terminal', async () => {
    const run = await dryRun(true);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('\r\x1b[2K');
    expect(run.stderr.endsWith('\r\x1b[2K')).toBe(true);
    const shown = screen(run.stderr);
    expect(shown[0]).toMatch(/^syncing 2 image\(s\) into .* \(dry run\)$/);
    expect(shown.filter((line) => /^\[\d\/2\] failed +\S+\/missing:1/.test(line))).toHaveLength(1);
    expect(shown.at(-1)).toBe('');
    expect(shown.some((line) => line.includes('would-copy'))).toBe(false);
    const table = run.stdout.split('\n\n')[0]!.split('\n');
    expect(table).toHaveLength(3);
    for (const line of table) expect([...line].length, line).toBeLessThanOrEqual(60);
    expect(run.stdout).toContain('Failed or interrupted images:');
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('2 images planned: 1 would copy, 0 would skip, 1 failed; 0 invalid files');
  });

  it('writes a line per image, and whole names, in a CI log', async () => {
    const run = await dryRun(false);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).not.toContain('\x1b');
    expect(run.stderr).toMatch(/\[\d\/2\] would-copy +\S+\/present:1/);
    expect(run.stderr).toMatch(/\[\d\/2\] failed +\S+\/missing:1/);
    expect(run.stdout).toContain(` ${s.targetRegistry}/mirror-${ns}/`);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('2 images planned: 1 would copy, 0 would skip, 1 failed; 0 invalid files');
  });
});
