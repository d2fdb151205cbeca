import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { inject } from 'vitest';

/** The local stack the stack tests run against, as started by test/support/global-setup.ts. */
export interface StackInfo {
  readonly sourceRegistry: string;
  readonly targetRegistry: string;
  readonly targetUsername: string;
  readonly targetPassword: string;
  readonly awsEndpoint: string;
  readonly sourceLog: string;
  readonly targetLog: string;
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

/** One request line of a registry's access log. */
export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

/** Where the log ends now, to read only what comes after. */
export async function logMark(file: string): Promise<number> {
  return (await stat(file)).size;
}

/** Requests the registry logged since `mark` (Apache combined format lines), once the log has stopped growing. */
export async function requestsSince(file: string, mark: number): Promise<AccessLogEntry[]> {
  // The registry writes a line just after it answers: wait until the file holds still.
  for (let size = -1; ; ) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const now = (await stat(file)).size;
    if (now === size) break;
    size = now;
  }
  const text = (await readFile(file)).subarray(mark).toString('utf8');
  const entries: AccessLogEntry[] = [];
  for (const match of text.matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g)) {
    entries.push({ method: match[1] as string, path: match[2] as string, status: Number(match[3]) });
  }
  return entries;
}

/** Manifest requests for repositories under `namespace`. */
export function manifestRequests(entries: readonly AccessLogEntry[], namespace: string, method: string): AccessLogEntry[] {
  return entries.filter((entry) => entry.method === method && entry.path.startsWith(`/v2/${namespace}/`) && entry.path.includes('/manifests/'));
}

/** A lowercase name unique to this test run, to keep tests apart in shared registries. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
