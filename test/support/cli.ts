import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { main } from '../../functions/cli/main.ts';

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const bin = join(root, 'functions', 'cli', 'bin.ts');

/** What a CLI run printed and how it exited. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let running: Promise<unknown> = Promise.resolve();

/**
 * Runs the `mirror` command in this process, as `bin.ts` would, with `env` added to the environment for the run
 * (the AWS SDK reads its endpoint and keys from process.env). Runs one at a time, since they share process.env.
 */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  const run = running.then(async () => {
    let stdout = '';
    let stderr = '';
    const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
    Object.assign(process.env, env);
    try {
      const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env: { ...process.env }, cwd: process.cwd() });
      return { code, stdout, stderr };
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
  running = run.catch(() => undefined);
  return run;
}

/** Runs `functions/cli/bin.ts` as a child process, as a user or CI job would: for what only a real process shows. */
export function runBin(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(tsx, [bin, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A `mirror` process started in the background, to be signalled; `done` resolves with what it printed and its exit code. */
export interface BackgroundRun {
  readonly child: ChildProcess;
  readonly done: Promise<CliRun>;
  /** What it has written to stderr so far. */
  stderr(): string;
}

/**
 * Starts `functions/cli/bin.ts` as one node process (no tsx wrapper in between, so that a signal sent to it reaches
 * the command itself), as a CI runner or a terminal would run it.
 */
export function startBin(args: readonly string[], env: Record<string, string> = {}): BackgroundRun {
  const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
  const done = new Promise<CliRun>((resolvePromise) => child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

/** Writes an images tree: keys are paths relative to the tree, values the Dockerfile texts. */
export async function writeImagesTree(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-images-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}
