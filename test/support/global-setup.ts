import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import type { StackInfo } from './stack.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

// Ports apart from the demo's defaults, so a running demo stack does not collide with the tests.
const stackEnv = {
  ...process.env,
  STACK_DIR: process.env.TEST_STACK_DIR ?? join(root, '.stack', 'test'),
  SOURCE_PORT: process.env.TEST_SOURCE_PORT ?? '5201',
  TARGET_PORT: process.env.TEST_TARGET_PORT ?? '5202',
  MOTO_PORT: process.env.TEST_MOTO_PORT ?? '5203',
};

/** Starts the real local stack (two docker-registry instances, moto) once for all stack tests; a missing tool fails the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let crane = process.env.CRANE ?? 'crane';
  try {
    await run(crane, ['version']);
    // An absolute path: serverless-offline gives handlers no PATH.
    if (!crane.includes('/')) crane = (await run('bash', ['-c', `command -v ${crane}`])).stdout.trim();
  } catch (error) {
    throw new Error(`crane is required for the stack tests and "${crane}" does not run (${(error as Error).message}); run scripts/setup.sh`);
  }
  const script = join(root, 'scripts', 'stack.sh');
  await run('bash', [script, 'stop'], { env: stackEnv }).catch(() => undefined);
  try {
    await run('bash', [script, 'start'], { env: stackEnv });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`starting the local stack failed: ${failure.stderr || failure.stdout || failure.message}`);
  }
  const env = parseEnvFile(await readFile(join(stackEnv.STACK_DIR, 'env'), 'utf8'));
  const info: StackInfo = {
    sourceRegistry: need(env, 'SOURCE_REGISTRY'),
    targetRegistry: need(env, 'TARGET_REGISTRY'),
    targetUsername: need(env, 'TARGET_USERNAME'),
    targetPassword: need(env, 'TARGET_PASSWORD'),
    awsEndpoint: need(env, 'AWS_ENDPOINT_URL'),
    crane,
  };
  project.provide('stack', info);
  return async () => {
    await run('bash', [script, 'stop'], { env: stackEnv });
  };
}

function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of text.matchAll(/^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    out.set(match[1] as string, (match[2] as string).replace(/^(['"])(.*)\1$/, '$2'));
  }
  return out;
}

function need(env: Map<string, string>, name: string): string {
  const value = env.get(name);
  if (!value) throw new Error(`the stack's env file has no ${name}`);
  return value;
}
