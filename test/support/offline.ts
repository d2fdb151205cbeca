import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** serverless-offline running this repository's serverless.yml, both functions behind its Lambda API. */
export interface OfflineLambdas {
  readonly lambdaEndpoint: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `serverless offline` with the given params and AWS_* environment (the only variables it passes to handlers), and waits for its Lambda API. */
export async function startOffline(options: { params: Record<string, string>; env: Record<string, string>; lambdaPort: number; httpPort: number }): Promise<OfflineLambdas> {
  const args = ['offline', 'start', '--stage', 'local', '--region', 'us-east-1', '--httpPort', String(options.httpPort), '--lambdaPort', String(options.lambdaPort), '--websocketPort', String(options.httpPort + 1)];
  for (const [name, value] of Object.entries(options.params)) args.push(`--param=${name}=${value}`);
  let output = '';
  const child: ChildProcess = spawn(resolve(root, 'node_modules', '.bin', 'serverless'), args, {
    cwd: root,
    env: { ...process.env, ...options.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    // It ignores SIGTERM while worker threads run: end the whole process group.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      return;
    }
    await once(child, 'exit').catch(() => undefined);
  };
  const deadline = Date.now() + 90_000;
  while (!(await portOpen(options.lambdaPort))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`serverless offline did not start its Lambda API on port ${options.lambdaPort}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { lambdaEndpoint: `http://localhost:${options.lambdaPort}`, output: () => output, stop };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host: 'localhost', port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}
