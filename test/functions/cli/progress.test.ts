import { describe, expect, it } from 'vitest';
import { createProgress, type ProgressOptions } from '../../../functions/cli/progress.ts';
import type { MirrorResult } from '../../../shared/ports.ts';

const CLEAR = '\r\x1b[2K';

function result(source: string, status: MirrorResult['status'], error: string | null = null): MirrorResult {
  return { file: 'f/Dockerfile', files: ['f/Dockerfile'], source, target: `r.example.com/m/${source}`, status, digest: null, error, durationMs: 1200 };
}

/** A progress writing into an array, each write kept apart. */
function recorded(options: Omit<ProgressOptions, 'write'>) {
  const writes: string[] = [];
  return { writes, progress: createProgress({ ...options, write: (text) => void writes.push(text) }) };
}

/**
 * What a terminal shows after these writes: `\r` goes back to the start of the line, `\x1b[2K` erases it, `\n` starts
 * the next; any other escape fails the test, as the progress uses no other.
 */
function screen(writes: readonly string[]): string[] {
  const rows: string[] = [];
  let row = '';
  let col = 0;
  const text = writes.join('');
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      rows.push(row);
      row = '';
      col = 0;
    } else if (text.startsWith('\x1b[2K', i)) {
      row = '';
      i += 3;
    } else if (ch === '\x1b') throw new Error(`an escape the progress does not use, at ${i}`);
    else {
      row = row.slice(0, col).padEnd(col) + ch + row.slice(col + 1);
      col += 1;
    }
  }
  return [...rows, row];
}

const sources = ['docker.io/library/a:1', 'docker.io/library/b:1', 'docker.io/library/c:1', 'docker.io/library/d:1'];

describe('progress on a terminal', () => {
  it('rewrites one line in place with the counts and the image last finished', () => {
    const { writes, progress } = recorded({ isTTY: true, columns: 100, kind: 'sync' });
    progress.result(result(sources[0]!, 'copied'), 1, 12);
    progress.result(result(sources[1]!, 'skipped'), 2, 12);
    expect(writes).toEqual([`${CLEAR}[ 1/12] 1 copied, 0 skipped, 0 failed  docker.io/library/a:1`, `${CLEAR}[ 2/12] 1 copied, 1 skipped, 0 failed  docker.io/library/b:1`]);
    expect(screen(writes)).toEqual(['[ 2/12] 1 copied, 1 skipped, 0 failed  docker.io/library/b:1']);
  });

  it('keeps each failure as a line of its own above the live line, and clears the live line at the end', () => {
    const { writes, progress } = recorded({ isTTY: true, columns: 100, kind: 'sync' });
    progress.result(result(sources[0]!, 'copied'), 1, 4);
    progress.result(result(sources[1]!, 'failed', 'copying "docker.io/library/b:1": 500'), 2, 4);
    progress.result(result(sources[2]!, 'interrupted', 'interrupted by SIGINT'), 3, 4);
    progress.result(result(sources[3]!, 'deferred', 'pull budget'), 4, 4);
    expect(screen(writes)).toEqual([
      '[2/4] failed      docker.io/library/b:1 (1.2 s)',
      '    copying "docker.io/library/b:1": 500',
      '[4/4] 1 copied, 0 skipped, 1 failed, 1 deferred, 1 interrupted  docker.io/library/d:1',
    ]);
    progress.end();
    expect(writes.at(-1)).toBe(CLEAR);
    expect(screen(writes)).toEqual(['[2/4] failed      docker.io/library/b:1 (1.2 s)', '    copying "docker.io/library/b:1": 500', '']);
    expect(writes.join('').match(/failed {6}docker/g)).toHaveLength(1);
  });

  it('counts as the dry run summary does', () => {
    const { writes, progress } = recorded({ isTTY: true, columns: 100, kind: 'dry-run' });
    progress.result(result(sources[0]!, 'would-copy'), 1, 2);
    progress.result(result(sources[1]!, 'would-skip'), 2, 2);
    expect(screen(writes)).toEqual(['[2/2] 1 would copy, 1 would skip, 0 failed  docker.io/library/b:1']);
  });

  it('fits the width, the image name cut in the middle, and leaves the last column free so the line never wraps', () => {
    const long = 'ghcr.io/some-organisation/a-rather-long-repository-name/with-a-sub-path:v1.2.3-alpine3.20';
    const { writes, progress } = recorded({ isTTY: true, columns: 60, kind: 'sync' });
    progress.result(result(long, 'copied'), 1, 200);
    const [line] = screen(writes);
    expect(line).toMatch(/^\[ {2}1\/200\] 1 copied, 0 skipped, 0 failed {2}ghcr\.i\S*…\S*3\.20$/);
    expect([...line!].length).toBe(59);
    // Too narrow for a name: the counts alone, cut at the end.
    const narrow = recorded({ isTTY: true, columns: 30, kind: 'sync' });
    narrow.progress.result(result(long, 'copied'), 1, 200);
    expect(screen(narrow.writes)).toEqual(['[  1/200] 1 copied, 0 skippe…']);
  });

  it('writes a message above the live line and draws the live line again under it', () => {
    const { writes, progress } = recorded({ isTTY: true, columns: 100, kind: 'sync' });
    progress.print('before anything\n');
    progress.result(result(sources[0]!, 'copied'), 1, 2);
    progress.print('mirror: SIGINT: stopping\n');
    expect(screen(writes)).toEqual(['before anything', 'mirror: SIGINT: stopping', '[1/2] 1 copied, 0 skipped, 0 failed  docker.io/library/a:1']);
  });

  it('writes nothing at the end when nothing was drawn (--quiet)', () => {
    const { writes, progress } = recorded({ isTTY: true, columns: 100, kind: 'sync' });
    progress.end();
    expect(writes).toEqual([]);
  });
});

describe('progress in a CI log (not a terminal)', () => {
  it('writes one line per image, the error under a failure, and no escape', () => {
    const { writes, progress } = recorded({ isTTY: false, columns: 40, kind: 'sync' });
    progress.result(result(sources[0]!, 'copied'), 1, 12);
    progress.result(result(sources[1]!, 'failed', 'copying "docker.io/library/b:1": 500'), 2, 12);
    progress.print('mirror: SIGTERM: stopping\n');
    progress.end();
    expect(writes.join('')).toBe(
      [
        '[ 1/12] copied      docker.io/library/a:1 (1.2 s)',
        '[ 2/12] failed      docker.io/library/b:1 (1.2 s)',
        '    copying "docker.io/library/b:1": 500',
        'mirror: SIGTERM: stopping',
        '',
      ].join('\n'),
    );
  });
});
