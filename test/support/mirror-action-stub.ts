import { chmod, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** One call of the stand-in `mirror`: the argv action/run.sh gave it and the environment it inherited. */
export interface MirrorCall {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A copy of the action whose CLI records its calls. */
export interface StubbedAction {
  /** The copy's directory, for runAction's actionDir. */
  readonly actionDir: string;
  /** The crane path the stand-in install step names (what run.sh passes as --crane when no crane input is given). */
  readonly cranePath: string;
  /** The calls of `mirror` so far, in order. */
  calls(): Promise<MirrorCall[]>;
}

/**
 * A copy of the image-mirror Action (the real action.yml and action/*.sh) in which only what lies outside the
 * action's own logic is a stand-in: dist/mirror.mjs records each call (argv and environment) and prints an empty
 * JSON report, so build.sh uses it as it is; action/install-crane.sh names a crane path without downloading one.
 * A test sees the exact command line run.sh makes of a step's `with:`, with no build, registry or network.
 * `exitCode`: what the stand-in exits with (0 by default), to see what run.sh makes of it.
 */
export async function stubbedAction(options: { readonly exitCode?: number } = {}): Promise<StubbedAction> {
  const actionDir = await mkdtemp(join(tmpdir(), 'image-mirror-stubbed-action-'));
  await cp(join(root, 'action.yml'), join(actionDir, 'action.yml'));
  await cp(join(root, 'action'), join(actionDir, 'action'), { recursive: true });
  const record = join(actionDir, 'calls.jsonl');
  const cranePath = join(actionDir, 'stand-in-crane');
  await writeFile(record, '');
  await mkdir(join(actionDir, 'dist'));
  await writeFile(
    join(actionDir, 'dist', 'mirror.mjs'),
    [
      "import { appendFileSync } from 'node:fs';",
      `appendFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), env: process.env }) + '\\n');`,
      "process.stdout.write('{}\\n');",
      `process.exitCode = ${options.exitCode ?? 0};`,
      '',
    ].join('\n'),
  );
  const install = join(actionDir, 'action', 'install-crane.sh');
  await writeFile(install, `#!/usr/bin/env bash\n# Stand-in: names a crane, downloads nothing.\necho "path=${cranePath}" >>"$GITHUB_OUTPUT"\n`);
  await chmod(install, 0o755);
  return {
    actionDir,
    cranePath,
    calls: async () =>
      (await readFile(record, 'utf8'))
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as MirrorCall),
  };
}
