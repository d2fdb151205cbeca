import type { MirrorResult } from '../../shared/ports.ts';
import { cutMiddle, MIN_NAME_WIDTH, shortDigest, type StatusTally, tallyWords } from './render.ts';

/** Back to the start of the line and erase it: the live line is drawn again in place. */
const CLEAR_LINE = '\r\x1b[2K';

/** Where progress goes and how. */
export interface ProgressOptions {
  readonly write: (text: string) => void;
  /** True when the stream is a terminal: one live line rewritten in place. Else (a CI log, a pipe) one line per image. */
  readonly isTTY: boolean;
  /** The terminal's width; absent, the live line is not cut. */
  readonly columns?: number | undefined;
  /** A dry run counts `would copy` and `would skip`, as its summary does. */
  readonly kind: 'sync' | 'dry-run';
}

/** Progress of a sync, told as each image finishes. */
export interface Progress {
  result(result: MirrorResult, done: number, total: number): void;
  /** Text that must stay (a message on a signal): written above the live line, which is drawn again under it. */
  print(text: string): void;
  /** Clears the live line, before the report is printed. */
  end(): void;
}

/** The key of the tally each outcome counts under. */
const TALLY_KEY: Readonly<Partial<Record<MirrorResult['status'], keyof StatusTally>>> = {
  copied: 'copied',
  skipped: 'skipped',
  failed: 'failed',
  interrupted: 'interrupted',
  deferred: 'deferred',
  'would-copy': 'wouldCopy',
  'would-skip': 'wouldSkip',
};

/** One progress line per image (a CI log keeps every one), or on a terminal a single live line with the counts. */
export function createProgress(options: ProgressOptions): Progress {
  return options.isTTY ? liveProgress(options) : lineProgress(options.write);
}

/** One progress line for stderr as an image finishes, with its error under it. */
export function progressLine(result: MirrorResult, done: number, total: number): string {
  const seconds = result.durationMs === undefined ? '' : ` (${(result.durationMs / 1000).toFixed(1)} s)`;
  const replaced = result.replaced === undefined ? '' : ` (replaced ${shortDigest(result.replaced)})`;
  const line = `${position(done, total)} ${result.status.padEnd(11)} ${result.source}${replaced}${seconds}`;
  return result.error ? `${line}\n    ${result.error}` : line;
}

function lineProgress(write: (text: string) => void): Progress {
  return {
    result: (result, done, total) => write(`${progressLine(result, done, total)}\n`),
    print: write,
    end: () => undefined,
  };
}

/**
 * The live line: `[ 37/200] 30 copied, 5 skipped, 2 failed  docker.io/library/postgres:14`, rewritten as each image
 * finishes. A failure is also written as a line of its own above it, so that it is still there when the run ends.
 */
function liveProgress({ write, columns, kind }: ProgressOptions): Progress {
  const tally: Record<keyof StatusTally, number> = { copied: 0, skipped: 0, failed: 0, interrupted: 0, deferred: 0, wouldCopy: 0, wouldSkip: 0 };
  let live = '';
  return {
    result: (result, done, total) => {
      const key = TALLY_KEY[result.status];
      if (key !== undefined) tally[key] += 1;
      const kept = result.status === 'failed' ? `${progressLine(result, done, total)}\n` : '';
      live = liveLine(`${position(done, total)} ${tallyWords(tally, kind)}`, result.source, columns);
      write(`${CLEAR_LINE}${kept}${live}`);
    },
    print: (text) => write(live === '' ? text : `${CLEAR_LINE}${text}${live}`),
    end: () => {
      if (live !== '') write(CLEAR_LINE);
      live = '';
    },
  };
}

/**
 * The counts and the image last finished, cut to the width. The last column stays free: a line that fills it wraps on
 * some terminals, and `\r` would then rewrite only its second half.
 */
function liveLine(counts: string, source: string, columns: number | undefined): string {
  if (columns === undefined) return `${counts}  ${source}`;
  const max = columns - 1;
  const room = max - counts.length - 2;
  const line = room >= MIN_NAME_WIDTH ? `${counts}  ${cutMiddle(source, room)}` : counts;
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1))}…`;
}

/** `[ 7/12]`: the count padded to the total's width, so that the lines line up. */
function position(done: number, total: number): string {
  return `[${String(done).padStart(String(total).length)}/${total}]`;
}
