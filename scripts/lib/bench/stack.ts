import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The benchmark's own local stack (scripts/stack.sh with its own directory and ports). */
export interface BenchStack {
  readonly dir: string;
  readonly sourceRegistry: string;
  readonly targetRegistry: string;
  readonly targetAuth: { readonly username: string; readonly password: string };
  readonly sourceLog: string;
}

export interface StackSettings {
  readonly root: string;
  readonly dir: string;
  readonly sourcePort: number;
  readonly targetPort: number;
  readonly motoPort: number;
}

function stackEnv(settings: StackSettings): NodeJS.ProcessEnv {
  return {
    ...process.env,
    STACK_DIR: settings.dir,
    SOURCE_PORT: String(settings.sourcePort),
    TARGET_PORT: String(settings.targetPort),
    MOTO_PORT: String(settings.motoPort),
  };
}

async function stackCommand(settings: StackSettings, args: string[]): Promise<void> {
  try {
    await run('bash', [join(settings.root, 'scripts', 'stack.sh'), ...args], { env: stackEnv(settings) });
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`stack.sh ${args.join(' ')} failed: ${(failure.stderr || failure.stdout || failure.message).trim()}`);
  }
}

/** Starts a fresh stack (whatever ran in this directory before is stopped first, so both registries start empty). */
export async function startStack(settings: StackSettings): Promise<BenchStack> {
  await stackCommand(settings, ['stop']).catch(() => undefined);
  await stackCommand(settings, ['start']);
  const env = new Map<string, string>();
  for (const match of (await readFile(join(settings.dir, 'env'), 'utf8')).matchAll(/^export ([A-Z_]+)=(.*)$/gm)) {
    env.set(match[1] as string, (match[2] as string).replace(/^(['"])(.*)\1$/, '$2'));
  }
  const need = (name: string) => {
    const value = env.get(name);
    if (!value) throw new Error(`${settings.dir}/env has no ${name}`);
    return value;
  };
  return {
    dir: settings.dir,
    sourceRegistry: need('SOURCE_REGISTRY'),
    targetRegistry: need('TARGET_REGISTRY'),
    targetAuth: { username: need('TARGET_USERNAME'), password: need('TARGET_PASSWORD') },
    sourceLog: need('SOURCE_LOG'),
  };
}

/** Stops the stack; `clean` also removes its data, logs and directory. */
export async function stopStack(settings: StackSettings, clean: boolean): Promise<void> {
  await stackCommand(settings, clean ? ['stop', '--clean'] : ['stop']);
}

/**
 * Gives the target registry empty storage: stops its process (the one stack.sh started, checked by
 * its command line) and lets `stack.sh start` start it again, which wipes its data directory.
 * A new repository prefix would not do: skopeo remembers where it pushed blobs and mounts them.
 */
export async function freshTarget(settings: StackSettings): Promise<void> {
  const pidFile = join(settings.dir, 'target-registry.pid');
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!Number.isInteger(pid) || pid <= 1 || !cmdline.includes(join(settings.dir, 'target-registry.yml'))) {
    throw new Error(`${pidFile} does not name the benchmark's target registry (pid ${pid})`);
  }
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; await isAlive(pid); waited += 50) {
    if (waited > 5000) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stackCommand(settings, ['start']);
}

async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // A zombie (state Z) has exited; its parent (stack.sh's nohup shell is gone) reaps it later.
  return stat !== undefined && !/^\d+ \(.*\) Z/.test(stat);
}
