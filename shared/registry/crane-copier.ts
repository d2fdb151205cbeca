import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CopyFailedError } from '../errors.ts';
import { DOCKER_HUB, formatReference } from '../image-ref/reference.ts';
import type { CopyRequest, ImageCopier, RegistryCredential } from '../ports.ts';

export interface CraneOptions {
  /** Path of the crane binary. */
  readonly crane: string;
  readonly timeoutMs?: number;
  /** Where the private per-copy Docker config directory is made. */
  readonly tempDir?: string;
}

// crane needs none of the caller's secrets: it gets only what finds hosts, proxies and CA certificates.
const PASSED_ENV = ['PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

/** Copies with `crane copy`, run as an argument array with a private, short-lived Docker config for credentials. */
export class CraneImageCopier implements ImageCopier {
  private readonly timeoutMs: number;

  constructor(private readonly options: CraneOptions) {
    this.timeoutMs = options.timeoutMs ?? 10 * 60_000;
  }

  async copy(request: CopyRequest): Promise<void> {
    const configDir = await mkdtemp(join(this.options.tempDir ?? tmpdir(), 'image-mirror-'));
    try {
      await chmod(configDir, 0o700);
      await writeFile(join(configDir, 'config.json'), dockerConfig(request.credentials), { mode: 0o600 });
      // References become strings only here, at the edge: each one a single argument, never a shell word.
      await this.run(['copy', formatReference(request.source), formatReference(request.target)], configDir, Math.min(this.timeoutMs, request.timeoutMs ?? Number.POSITIVE_INFINITY));
    } finally {
      await rm(configDir, { recursive: true, force: true });
    }
  }

  private run(args: string[], configDir: string, timeoutMs: number): Promise<void> {
    const env: Record<string, string> = { DOCKER_CONFIG: configDir, HOME: configDir };
    for (const name of PASSED_ENV) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    return new Promise((resolve, reject) => {
      execFile(this.options.crane, args, { env, timeout: Math.max(1, Math.round(timeoutMs)), killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        const err = error as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        if (err.code === 'ENOENT') {
          return reject(new CopyFailedError(`crane not found at "${this.options.crane}" (run scripts/setup.sh or set CRANE)`, { cause: error, reason: 'permanent' }));
        }
        if (err.killed) return reject(new CopyFailedError(`crane copy timed out after ${Math.round(timeoutMs) / 1000} s`, { cause: error, reason: 'timeout' }));
        // crane's own error line says it all; the exec error would only repeat the command and stderr.
        const detail = errorLine(String(stderr)) || error.message;
        const reason = refusedCredentials(detail) ? 'auth' : isTransient(detail) ? 'transient' : 'permanent';
        reject(new CopyFailedError(`crane copy failed: ${detail}`, { reason, retryable: reason !== 'permanent' }));
      });
    });
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

function errorLine(text: string): string {
  const lines = text.trim().split('\n').filter((line) => line.trim() !== '');
  const error = lines.filter((line) => line.startsWith('Error:')).at(-1);
  return (error ?? lines.slice(-2).join(' | ')).slice(0, 1000);
}

// The registry's words for refused credentials, as crane passes them on.
function refusedCredentials(detail: string): boolean {
  return /\b401\b|UNAUTHORIZED|authentication required/i.test(detail);
}

function isTransient(detail: string): boolean {
  return /\b(429|500|502|503|504)\b|TOOMANYREQUESTS|timeout|timed out|connection reset|EOF|connection refused|MANIFEST_BLOB_UNKNOWN|BLOB_UPLOAD/i.test(detail);
}
