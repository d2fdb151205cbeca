import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';

/** The local stack the stack tests run against, as started by test/support/global-setup.ts. */
export interface StackInfo {
  readonly sourceRegistry: string;
  readonly targetRegistry: string;
  readonly targetUsername: string;
  readonly targetPassword: string;
  readonly awsEndpoint: string;
  readonly crane: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

/** The running stack; only valid inside the `stack` test project. */
export function stack(): StackInfo {
  return inject('stack');
}

export const run = promisify(execFile);

/** The environment that points the AWS SDK (a Lambda, the CLI) at the stack's moto, with its fake credentials. */
export function motoEnv(s: StackInfo): Record<string, string> {
  return { AWS_ENDPOINT_URL: s.awsEndpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
}

/** One request as a registry saw it. */
export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

/**
 * A proxy in front of the stack's source registry that keeps every request in memory, logged as soon as the registry
 * answers: name images through its `host`, and `log` holds exactly what reached the source, with nothing to wait for.
 */
export function watchSource(): Promise<FaultProxy> {
  return startFaultProxy({ upstream: stack().sourceRegistry });
}

/** Manifest requests for repositories under `namespace`. */
export function manifestRequests(entries: readonly AccessLogEntry[], namespace: string, method: string): AccessLogEntry[] {
  return entries.filter((entry) => entry.method === method && entry.path.startsWith(`/v2/${namespace}/`) && entry.path.includes('/manifests/'));
}

/** A lowercase name unique to this test run, to keep tests apart in shared registries. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
