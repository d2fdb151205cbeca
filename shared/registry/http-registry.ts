import { createHash } from 'node:crypto';
import { InterruptedError, RateLimitedError, RegistryRequestError } from '../errors.ts';
import { DOCKER_HUB, formatReference, type ImageReference } from '../image-ref/reference.ts';
import * as z from 'zod/mini';
import { isDigest, type ManifestJson, MANIFEST_MEDIA_TYPES, parseManifestJson } from '../oci/manifest.ts';
import type { CredentialProvider, Manifest, ManifestHead, ManifestRegistry } from '../ports.ts';
import { afterAttempts, parseRetryAfter, REQUEST_RETRY, retrying, type RetryPolicy, sleep } from '../retry.ts';
import { rememberCredential, rememberSecret, safeText } from '../safe-text.ts';

export interface HttpRegistryOptions {
  readonly credentials: CredentialProvider;
  readonly retry?: RetryPolicy;
  readonly timeoutMs?: number;
  /** Aborted when the run is told to stop (SIGINT, SIGTERM): requests and retry waits end at once, as `interrupted`. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  /** The wait between attempts, given the run's signal so that an interruption can end it. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const MIB = 1024 * 1024;

/**
 * The most of a manifest read. The distribution registry refuses to store a larger one (`maxManifestBodySize = 4 * 1024
 * * 1024`, registry/handlers/manifests.go), and containers/image reads no more (`MaxManifestBodySize`, internal/iolimits).
 */
export const MAX_MANIFEST_BYTES = 4 * MIB;

/** The most of a token answer read: a token is a JWT of a few KiB; containers/image allows the same (`MaxAuthTokenBodySize`). */
export const MAX_TOKEN_BYTES = MIB;

/** The most of an error answer read: only its first error's code and message are shown, 300 characters at most. */
export const MAX_ERROR_BYTES = 64 * 1024;

/** A body that must come whole: how much of it may come, and what a refusal calls it. */
interface BodyLimit {
  readonly bytes: number;
  readonly name: string;
  readonly why: string;
}

const MANIFEST_BODY: BodyLimit = { bytes: MAX_MANIFEST_BYTES, name: 'the manifest', why: 'the most a registry accepts' };
const TOKEN_BODY: BodyLimit = { bytes: MAX_TOKEN_BYTES, name: 'the token answer', why: 'far more than any token needs' };

const utf8 = new TextDecoder();

interface CachedAuth {
  readonly header: string;
  readonly expiresAt: number;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** What varies between the manifest requests. */
interface RequestParts {
  readonly accept: string;
  readonly body?: string;
  readonly contentType?: string;
}

// The token endpoint's answer (https://distribution.github.io/distribution/spec/auth/token/): `token`, or `access_token`
// in the OAuth2 form, and an optional lifetime in seconds.
const tokenResponse = z.looseObject({
  token: z.nullish(z.string()),
  access_token: z.nullish(z.string()),
  // A lifetime that is not a positive number is taken as unsaid.
  expires_in: z.exactOptional(z.catch(z.optional(z.number().check(z.positive())), undefined)),
});

// An error answer's body, as the distribution spec defines it; anything else is left out of the message.
const errorBody = z.looseObject({
  errors: z.exactOptional(z.array(z.looseObject({ code: z.exactOptional(z.string()), message: z.exactOptional(z.string()) }))),
});

/** The scheme crane uses too: plain HTTP for loopback, localhost, `.local` and RFC 1918 hosts, HTTPS elsewhere. */
function registryBaseUrl(registry: string): string {
  const host = registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
  const name = registry.replace(/:\d+$/, '');
  const insecure =
    name === 'localhost' ||
    name.endsWith('.local') ||
    /^127\./.test(name) ||
    /^10\./.test(name) ||
    /^192\.168\./.test(name) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(name);
  return `${insecure ? 'http' : 'https'}://${host}`;
}

/**
 * Registry API client for manifest lookups: the token flow (401 → Bearer or Basic), 429 with
 * `Retry-After` and 5xx retried with jittered backoff, every failure saying which request failed.
 */
export class HttpRegistryClient implements ManifestRegistry {
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly auth = new Map<string, CachedAuth>();

  constructor(private readonly options: HttpRegistryOptions) {
    this.retry = options.retry ?? REQUEST_RETRY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? sleep;
  }

  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    const response = await this.request('HEAD', ref, manifestPath(ref), { accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (response.status === 404) return undefined;
    const digest = response.headers.get('docker-content-digest') ?? ref.digest;
    if (digest === undefined) {
      throw new RegistryRequestError(`HEAD ${formatReference(ref)}: the registry sent no Docker-Content-Digest header`, { status: response.status });
    }
    checkDigest(digest, `HEAD ${formatReference(ref)}`);
    const head: { digest: string; mediaType?: string; rateLimitRemaining?: string } = { digest };
    const mediaType = response.headers.get('content-type');
    if (mediaType) head.mediaType = mediaType;
    const remaining = response.headers.get('ratelimit-remaining');
    if (remaining) head.rateLimitRemaining = remaining;
    return head;
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    const path = manifestPath(ref);
    const response = await this.request('GET', ref, path, { accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const bytes = await this.readBody(response, MANIFEST_BODY, `GET ${registryBaseUrl(ref.registry)}${path}`);
    // The digest is of the bytes received: decoding first would drop a byte-order mark or replace an invalid byte.
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const body = utf8.decode(bytes);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new RegistryRequestError(`GET ${formatReference(ref)}: the registry sent a manifest whose digest is ${digest}`);
    }
    let json: ManifestJson;
    try {
      json = parseManifestJson(body);
    } catch (error) {
      throw new RegistryRequestError(`GET ${formatReference(ref)}: ${(error as Error).message}`);
    }
    return { digest, mediaType: json.mediaType ?? response.headers.get('content-type') ?? '', body, json };
  }

  async putManifest(ref: ImageReference, body: string, mediaType: string): Promise<string> {
    const response = await this.request('PUT', ref, manifestPath(ref), { accept: '*/*', body, contentType: mediaType });
    await response.body?.cancel();
    if (response.status === 404) throw new RegistryRequestError(`PUT ${formatReference(ref)}: 404 Not Found`, { status: 404 });
    const digest = response.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
    checkDigest(digest, `PUT ${formatReference(ref)}`);
    return digest;
  }

  /** Sends a request to `ref`'s registry, authenticating and retrying as needed; any status other than 2xx and 404 throws. */
  private request(method: string, ref: ImageReference, path: string, init: RequestParts): Promise<Response> {
    const url = `${registryBaseUrl(ref.registry)}${path}`;
    // Logging in is counted over the whole request, retries included: credentials refused twice will not improve.
    const logins = { count: 0 };
    return retrying(this.retry, () => this.attempt(method, ref, url, init, logins), {
      classify: (error) => ({ retryable: error instanceof RegistryRequestError && error.retryable, retryAfterMs: error instanceof RegistryRequestError ? error.retryAfterMs : undefined }),
      giveUp: (error, attempts, retryable) => (retryable && error instanceof RegistryRequestError ? withAttempts(error, attempts) : error),
      sleep: (ms) => this.sleep(ms, this.options.signal),
    });
  }

  /** One attempt: a 401 is answered by logging in (twice at the most per request, fresh credentials the second time), not retried. */
  private async attempt(method: string, ref: ImageReference, url: string, init: RequestParts, logins: { count: number }): Promise<Response> {
    const what = `${method} ${url}`;
    const authKey = `${ref.registry}|${ref.repository}`;
    for (;;) {
      const headers: Record<string, string> = { accept: init.accept };
      if (init.contentType) headers['content-type'] = init.contentType;
      // Basic credentials hold for the whole registry: sent up front, they save a 401 round trip per repository.
      const cached = this.auth.get(authKey) ?? this.auth.get(`${ref.registry}|basic`);
      if (cached && cached.expiresAt > Date.now()) headers.authorization = cached.header;

      const response = await this.send(url, { method, headers, ...(init.body === undefined ? {} : { body: init.body }), redirect: 'follow' }, what);
      if (response.status === 401 && logins.count < 2) {
        logins.count += 1;
        // Credentials we sent were refused (an expired ECR token, say): fetch fresh ones, once.
        if (headers.authorization !== undefined) {
          this.options.credentials.invalidate?.(ref.registry);
          this.auth.delete(`${ref.registry}|basic`);
        }
        const challenge = response.headers.get('www-authenticate');
        await response.body?.cancel();
        const auth = await this.authenticate(ref, challenge, what);
        this.auth.set(authKey, auth);
        if (auth.header.startsWith('Basic ')) this.auth.set(`${ref.registry}|basic`, auth);
        continue;
      }
      if (response.ok || response.status === 404) return response;
      const message = `${what}: ${response.status} ${safeText(response.statusText, 80)}${await errorDetail(response)}`;
      if (!RETRYABLE_STATUS.has(response.status)) throw new RegistryRequestError(message, { status: response.status });
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      const ErrorClass = response.status === 429 ? RateLimitedError : RegistryRequestError;
      throw new ErrorClass(message, { status: response.status, retryable: true, retryAfterMs });
    }
  }

  private async authenticate(ref: ImageReference, challenge: string | null, what: string): Promise<CachedAuth> {
    const credential = await this.options.credentials.credentialsFor(ref.registry);
    // Known before it is sent, so that a registry echoing it in an error answer never gets it printed.
    if (credential) rememberCredential(credential.username, credential.password);
    const basic = credential ? `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` : undefined;
    const scheme = challenge?.trim().split(/\s+/, 1)[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (basic === undefined) throw new RegistryRequestError(`${what}: 401 Unauthorized and no credentials are configured for ${ref.registry}`, { status: 401 });
      return { header: basic, expiresAt: Number.POSITIVE_INFINITY };
    }
    if (scheme !== 'bearer' || challenge === null) {
      throw new RegistryRequestError(`${what}: 401 Unauthorized with an unsupported challenge "${safeText(challenge ?? '')}"`, { status: 401 });
    }
    const params = parseChallenge(challenge);
    if (!params.realm) throw new RegistryRequestError(`${what}: 401 Unauthorized with a Bearer challenge that has no realm`, { status: 401 });
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${ref.repository}:pull`);
    const endpoint = `${tokenUrl.origin}${tokenUrl.pathname}`;
    const fetching = `${what}: fetching a token from ${endpoint}`;
    const response = await this.send(tokenUrl, { headers: basic ? { authorization: basic } : {} }, fetching);
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryRequestError(`${fetching}: ${response.status} ${safeText(response.statusText, 80)}`, {
        status: response.status,
        retryable: RETRYABLE_STATUS.has(response.status),
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      });
    }
    const body = tokenResponse.safeParse(parseJson(utf8.decode(await this.readBody(response, TOKEN_BODY, fetching))));
    const token = body.success ? (body.data.token || body.data.access_token) : undefined;
    if (!body.success || !token) throw new RegistryRequestError(`${what}: the token endpoint ${endpoint} returned no token`);
    rememberSecret(token);
    // Renew a little before the registry's own expiry (60 s when it does not say).
    const lifetimeMs = Math.max(1, (body.data.expires_in ?? 60) - 10) * 1000;
    return { header: `Bearer ${token}`, expiresAt: Date.now() + lifetimeMs };
  }

  /** One fetch, ended by the time limit or an interruption, whichever comes first; no answer throws, naming `what`. */
  private async send(url: string | URL, init: RequestInit, what: string): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      return await this.fetch(url, { ...init, signal: this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout });
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  /** A body of at most `limit.bytes`, whole; a larger one is refused, no more of it read, and not retried: it will be as large next time. */
  private async readBody(response: Response, limit: BodyLimit, what: string): Promise<Uint8Array> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readAtMost(response, limit.bytes);
    } catch (error) {
      throw this.failure(what, error);
    }
    if (bytes === undefined) throw new RegistryRequestError(`${what}: ${limit.name} is larger than ${limit.bytes / MIB} MiB, ${limit.why}: not read`);
    return bytes;
  }

  /** A request or body that did not come: interrupted (final), or cut off or timed out (another attempt may get it). */
  private failure(what: string, error: unknown): RegistryRequestError | InterruptedError {
    if (this.options.signal?.aborted) return new InterruptedError(`${what}: interrupted`, { cause: error });
    return new RegistryRequestError(`${what}: ${networkMessage(error)}`, { cause: error, retryable: true });
  }
}

/**
 * The body's bytes, read chunk by chunk; undefined, its stream cancelled, once they pass `cap` or when Content-Length
 * says they will: a registry streaming without end costs `cap` and one chunk of memory, not all of it.
 */
async function readAtMost(response: Response, cap: number): Promise<Uint8Array | undefined> {
  if (Number(response.headers.get('content-length')) > cap) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.body === null) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    size += next.value.byteLength;
    if (size > cap) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks, size);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// A digest from a registry's headers goes into crane's arguments: it must be one.
function checkDigest(digest: string, what: string): void {
  if (!isDigest(digest)) throw new RegistryRequestError(`${what}: the registry sent "${safeText(digest)}" as Docker-Content-Digest, which is not a digest`);
}

// The last failure of a retried request, saying how many attempts were made.
function withAttempts(error: RegistryRequestError, attempts: number): RegistryRequestError {
  const ErrorClass = error instanceof RateLimitedError ? RateLimitedError : RegistryRequestError;
  return new ErrorClass(`${error.message}${afterAttempts(attempts)}`, { cause: error.cause, status: error.status, retryable: true, retryAfterMs: error.retryAfterMs });
}

function manifestPath(ref: ImageReference): string {
  return `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"` into its parameters. */
function parseChallenge(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of header.replace(/^\s*\S+\s*/, '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    params[(match[1] as string).toLowerCase()] = match[2] ?? match[3] ?? '';
  }
  return params;
}

/** The registry's own words on a failure, best effort: a body cut off, or larger than MAX_ERROR_BYTES, gives none. */
async function errorDetail(response: Response): Promise<string> {
  const bytes = await readAtMost(response, MAX_ERROR_BYTES).catch(() => undefined);
  const parsed = errorBody.safeParse(parseJson(bytes === undefined ? '' : utf8.decode(bytes)));
  const first = parsed.success ? parsed.data.errors?.[0] : undefined;
  // The registry's words, made safe to print: they reach logs and pull-request comments.
  return first ? ` (${safeText([first.code, first.message].filter(Boolean).join(': '), 300)})` : '';
}

function networkMessage(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
