import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pushImage } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { type CliIo, main, type StopSignal } from '../../functions/cli/main.ts';
import { startBin, writeImagesTree } from '../support/cli.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { isRunning, waitFor } from '../support/processes.ts';
import { stack, uniqueName } from '../support/stack.ts';

// A cancelled CI job, `timeout`, Ctrl-C: GitHub Actions sends SIGINT, then SIGTERM, to the step's processes
// (https://docs.github.com/en/actions/managing-workflow-runs/canceling-a-workflow), `timeout` sends SIGTERM.
describe.each([
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const)('mirror sync stopped by %s while crane is copying', (signal, exitCode) => {
  it(`stops crane, leaves no credentials behind, reports every image and exits ${exitCode}`, async () => {
    const s = stack();
    const ns = uniqueName(`stop-${signal.toLowerCase()}`);
    for (const name of ['a', 'b', 'c']) await pushImage({ registry: s.sourceRegistry }, `${ns}/${name}`, '1');
    // Blobs never come: every crane copy hangs until it is stopped, as one stuck on a slow upstream would.
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'GET', path: /\/blobs\//, action: 'stall', times: 1000 }] });
    try {
      const images = await writeImagesTree(Object.fromEntries(['a', 'b', 'c'].map((name) => [`${proxy.host}/${ns}/${name}/Dockerfile`, `FROM ${proxy.host}/${ns}/${name}:1\n`])));
      const tmp = await mkdtemp(join(tmpdir(), 'image-mirror-stop-'));
      const credentials = join(tmp, 'credentials.json');
      await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });

      const run = startBin(['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, '--concurrency', '2', '--json'], { TMPDIR: tmp, CRANE: s.crane });
      // Two copies are running: two crane processes, each with its Docker config on disk.
      await waitFor(async () => (await configDirs(tmp)).length === 2 && (await cranesOf(ns)).length === 2, () => `the copies never started; stderr so far:\n${run.stderr()}`);
      const cranes = await cranesOf(ns);
      run.child.kill(signal);
      const result = await run.done;

      expect(result.code, result.stderr).toBe(exitCode);
      expect(result.stderr).toContain(`mirror: ${signal}: stopping`);
      const report = JSON.parse(result.stdout) as Report;
      expect(report.results.map((r) => r.status)).toEqual(['interrupted', 'interrupted', 'interrupted']);
      expect(report.summary).toMatchObject({ planned: 3, interrupted: 3, copied: 0, failed: 0 });
      // Look-ups run ahead of copies: all three know their digest; two were copying, the third's copy never started.
      expect(report.results.filter((r) => r.digest !== null)).toHaveLength(3);
      expect(report.results.filter((r) => r.error?.endsWith('interrupted before the copy started'))).toHaveLength(1);

      expect(await configDirs(tmp)).toEqual([]);
      for (const pid of cranes) expect(isRunning(pid), `crane ${pid}`).toBe(false);
      expect(await cranesOf(ns)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('mirror sync given a second stop signal', () => {
  it('stops at once: every crane ended and its credentials removed before it exits, without waiting for anything', async () => {
    const s = stack();
    const ns = uniqueName('stop-twice');
    for (const name of ['a', 'b']) await pushImage({ registry: s.sourceRegistry }, `${ns}/${name}`, '1');
    const proxy = await startFaultProxy({ upstream: s.sourceRegistry, faults: [{ method: 'GET', path: /\/blobs\//, action: 'stall', times: 1000 }] });
    const savedTmp = process.env.TMPDIR;
    try {
      const images = await writeImagesTree(Object.fromEntries(['a', 'b'].map((name) => [`${proxy.host}/${ns}/${name}/Dockerfile`, `FROM ${proxy.host}/${ns}/${name}:1\n`])));
      const tmp = await mkdtemp(join(tmpdir(), 'image-mirror-stop-'));
      const credentials = join(tmp, 'credentials.json');
      await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
      // In this process, so that the signals can be delivered one right after the other and what they did looked at
      // before anything else runs.
      process.env.TMPDIR = tmp;
      let handler: ((signal: StopSignal) => void) | undefined;
      const exits: number[] = [];
      let stderr = '';
      const io: CliIo = {
        stdout: () => undefined,
        stderr: (text) => void (stderr += text),
        env: { ...process.env, CRANE: s.crane },
        cwd: process.cwd(),
        onStopSignal: (h) => {
          handler = h;
          return () => void (handler = undefined);
        },
        exit: (code) => void exits.push(code),
      };
      const run = main(['sync', '--images', images, '--target', `${s.targetRegistry}/${ns}`, '--credentials', credentials, '--json'], io);
      await waitFor(async () => (await configDirs(tmp)).length === 2 && (await cranesOf(ns)).length === 2, () => stderr);
      const cranes = await cranesOf(ns);

      handler?.('SIGINT');
      handler?.('SIGINT');
      // Synchronously after the second signal, before the first one's clean-up could have run.
      expect(exits).toEqual([130]);
      expect(readdirSync(tmp).filter((name) => name.startsWith('image-mirror-') && !name.startsWith('image-mirror-stop-'))).toEqual([]);
      expect(stderr).toContain('mirror: SIGINT again: stopped at once');
      // SIGKILL was sent before exit() was called; the kernel ends a process when it next schedules it, which on a
      // loaded machine can be a moment later. A crane never killed would stall on its blobs until the wait gives up.
      await waitFor(async () => cranes.every((pid) => !isRunning(pid)), () => `still running: ${cranes.filter(isRunning).join(', ')}`);
      await run;
    } finally {
      process.env.TMPDIR = savedTmp;
      if (savedTmp === undefined) delete process.env.TMPDIR;
      await proxy.close();
    }
  });
});

async function configDirs(tmp: string): Promise<string[]> {
  return (await readdir(tmp)).filter((name) => name.startsWith('image-mirror-') && !name.startsWith('image-mirror-stop-'));
}

// crane processes whose arguments name this test's images.
async function cranesOf(namespace: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const [command, subcommand] = argv.split('\0');
    if (command?.endsWith('crane') && subcommand === 'copy' && argv.includes(namespace) && isRunning(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}
