import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CopyFailedError, InterruptedError } from '../errors.ts';
import { DOCKER_HUB, formatReference } from '../image-ref/reference.ts';
import type { CopyRequest, ImageCopier, RegistryCredential } from '../ports.ts';
import { rememberCredential, safeMessage } from '../safe-text.ts';

export interface CraneOptions {
  /** Path of the crane binary. */
  readonly crane: string;
  readonly timeoutMs?: number;
  /** Where the private per-copy Docker config directory is made. */
  readonly tempDir?: string;
  /**
   * Told each crane command as it starts, program first (`mirror sync --verbose` prints it): the argument array holds
   * no secret, as crane reads the logins from the private Docker config.
   */
  readonly onCommand?: (argv: readonly string[]) => void;
}

// crane needs none of the caller's secrets: it gets only what finds hosts, proxies and CA certificates.
const PASSED_ENV = ['PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

/** The longest time limit a timer can hold (2^31 - 1 ms); a longer one would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** How much of crane's stderr is kept: its error line is near the end. */
const STDERR_TAIL = 64 * 1024;

/** The cranes running now, by process group, with their Docker config directories: what stopCopiesNow() ends. */
const running = new Map<number, string>();

/**
 * Ends every running crane's process group and removes its Docker config, at once and synchronously: for a second
 * Ctrl-C, when the process is about to exit without waiting for the copies to wind down.
 */
export function stopCopiesNow(): void {
  for (const [pid, configDir] of running) {
    killGroup(pid);
    rmSync(configDir, { recursive: true, force: true });
  }
  running.clear();
}

/** How crane's run ended, when it did not succeed. */
type CraneEnd = { readonly kind: 'exit'; readonly code: number | null; readonly stderr: string } | { readonly kind: 'timeout' } | { readonly kind: 'interrupted' } | { readonly kind: 'spawn'; readonly error: NodeJS.ErrnoException };

/**
 * Copies with `crane copy`, run as an argument array in a process group of its own, with a private Docker config that
 * exists only while crane runs: removed when it ends, fails, times out or the run is interrupted.
 */
export class CraneImageCopier implements ImageCopier {
  private readonly timeoutMs: number;

  constructor(private readonly options: CraneOptions) {
    this.timeoutMs = Math.min(options.timeoutMs ?? 10 * 60_000, MAX_TIMER_MS);
  }

  async copy(request: CopyRequest): Promise<void> {
    if (request.signal?.aborted) throw new InterruptedError('crane copy not started: interrupted');
    // mkdtemp makes the directory 0700; the file is 0600 from its first byte.
    // Whatever a registry echoes back through crane's stderr, these logins never get printed.
    for (const credential of request.credentials.values()) rememberCredential(credential.username, credential.password);
    const configDir = await mkdtemp(join(this.options.tempDir ?? tmpdir(), 'image-mirror-'));
    let end: CraneEnd | undefined;
    try {
      await writeFile(join(configDir, 'config.json'), dockerConfig(request.credentials), { mode: 0o600 });
      const timeoutMs = Math.max(1, Math.round(Math.min(this.timeoutMs, request.timeoutMs ?? Number.POSITIVE_INFINITY)));
      // References become strings only here, at the edge: each one a single argument, never a shell word.
      const args = ['copy', formatReference(request.source), formatReference(request.target)];
      this.options.onCommand?.([this.options.crane, ...args]);
      end = await this.run(args, configDir, timeoutMs, request.signal);
      if (end !== undefined) throw this.failure(end, timeoutMs);
    } finally {
      await rm(configDir, { recursive: true, force: true });
    }
  }

  /**
   * Runs `crane version` as a copy runs crane (its environment, its own process group, a private config directory):
   * the preflight's check that crane is there and starts. Rejects with the spawn error itself (its `code` ENOENT or
   * EACCES) when crane cannot be started, InterruptedError when `signal` aborts, else an Error saying how it ended.
   */
  async version(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const configDir = await mkdtemp(join(this.options.tempDir ?? tmpdir(), 'image-mirror-'));
    try {
      const end = await this.run(['version'], configDir, Math.min(timeoutMs, MAX_TIMER_MS), signal);
      switch (end?.kind) {
        case undefined:
          return;
        case 'spawn':
          throw end.error;
        case 'interrupted':
          throw new InterruptedError('crane version: interrupted');
        case 'timeout':
          throw new Error(`"crane version" did not end within ${timeoutMs / 1000} s`);
        case 'exit': {
          const said = errorLine(end.stderr);
          throw new Error(`"crane version" exited with code ${end.code ?? 'none (ended by a signal)'}${said ? `: ${safeMessage(said, 300)}` : ''}`);
        }
      }
    } finally {
      await rm(configDir, { recursive: true, force: true });
    }
  }

  /** Runs crane; undefined when it succeeded. Whatever happens, crane's whole process group is gone when this returns. */
  private run(args: string[], configDir: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<CraneEnd | undefined> {
    const env: Record<string, string> = { DOCKER_CONFIG: configDir, HOME: configDir };
    for (const name of PASSED_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    return new Promise((resolve) => {
      // A group of its own, so that a time limit or an interruption ends crane and anything it started, all at once.
      const child = spawn(this.options.crane, args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
      if (child.pid !== undefined) running.set(child.pid, configDir);
      let stderr = '';
      let stopped: CraneEnd | undefined;
      const stop = (why: CraneEnd) => {
        stopped ??= why;
        killGroup(child.pid);
      };
      const timer = setTimeout(() => stop({ kind: 'timeout' }), timeoutMs);
      const onAbort = () => stop({ kind: 'interrupted' });
      signal?.addEventListener('abort', onAbort, { once: true });
      // Interrupted while the config was being written: a listener added now would never hear of it.
      if (signal?.aborted) onAbort();
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL);
      });
      const finish = (end: CraneEnd | undefined) => {
        if (child.pid !== undefined) running.delete(child.pid);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(end);
      };
      child.on('error', (error) => finish({ kind: 'spawn', error }));
      child.on('close', (code) => {
        // crane is gone; anything it left running in its group goes too.
        killGroup(child.pid);
        finish(stopped ?? (code === 0 ? undefined : { kind: 'exit', code, stderr }));
      });
    });
  }

  private failure(end: CraneEnd, timeoutMs: number): Error {
    switch (end.kind) {
      case 'spawn':
        if (end.error.code === 'ENOENT') return new CopyFailedError(`crane not found at "${this.options.crane}" (run scripts/setup.sh or set CRANE)`, { cause: end.error, reason: 'permanent' });
        return new CopyFailedError(`crane could not be started: ${end.error.message}`, { cause: end.error, reason: 'permanent' });
      case 'timeout':
        return new CopyFailedError(`crane copy timed out after ${timeoutMs / 1000} s`, { reason: 'timeout', limitMs: timeoutMs });
      case 'interrupted':
        return new InterruptedError('crane copy stopped: interrupted');
      case 'exit': {
        // crane's own error line says it all; it comes from a registry, so it is made safe (and secrets hidden) here.
        const detail = safeMessage(errorLine(end.stderr) || `crane exited with code ${end.code}`, 1000);
        const reason = refusedCredentials(detail) ? 'auth' : isPullLimit(detail) ? 'pull-limit' : isTransient(detail) ? 'transient' : 'permanent';
        return new CopyFailedError(`crane copy failed: ${detail}`, { reason, retryable: reason === 'auth' || reason === 'transient' });
      }
    }
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

/** The Docker config crane reads: one `auths` entry per registry, Docker Hub under its legacy key. */
export function dockerConfig(credentials: ReadonlyMap<string, RegistryCredential>): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [registry, credential] of credentials) {
    const key = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
    auths[key] = { auth: Buffer.from(`${credential.username}:${credential.password}`).toString('base64') };
  }
  return JSON.stringify({ auths });
}

// crane's last `Error:` line and what follows it: a registry's message may run over several lines (made safe later).
function errorLine(text: string): string {
  const lines = text.trim().split('\n').filter((line) => line.trim() !== '');
  const last = lines.findLastIndex((line) => line.startsWith('Error:'));
  return last === -1 ? lines.slice(-2).join(' | ') : lines.slice(last).join('\n');
}

// The registry's words for refused credentials, as crane passes them on.
function refusedCredentials(detail: string): boolean {
  return /\b401\b|UNAUTHORIZED|authentication required/i.test(detail);
}

// Docker Hub's pull limit as crane passes it on: "You have reached your pull rate limit"
// (https://docs.docker.com/docker-hub/usage/pulls/#view-pull-rate-and-limit). Retrying would only spend more pulls.
// `TOOMANYREQUESTS` alone is the distribution spec's code for any throttling (our target's too): that one is retried.
function isPullLimit(detail: string): boolean {
  return /pull rate limit/i.test(detail);
}

function isTransient(detail: string): boolean {
  return /\b(429|500|502|503|504)\b|TOOMANYREQUESTS|timeout|timed out|connection reset|EOF|connection refused|MANIFEST_BLOB_UNKNOWN|BLOB_UPLOAD/i.test(detail);
}
