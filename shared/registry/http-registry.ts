import { createHash } from 'node:crypto';
import { InterruptedError, MirrorError, PullLimitError, RateLimitedError, RegistryRequestError } from '../errors.ts';
import { DOCKER_HUB, formatReference, type ImageReference } from '../image-ref/reference.ts';
import * as z from 'zod/mini';
import { isDigest, type ManifestJson, MANIFEST_MEDIA_TYPES, OCI_INDEX, parseManifestJson } from '../oci/manifest.ts';
import type { CredentialProvider, Manifest, ManifestHead, ManifestRegistry, PullBudgetSeen, ReferrerDescriptor, RegistryCredential } from '../ports.ts';
import { afterAttempts, parseRetryAfter, REQUEST_RETRY, retrying, type RetryPolicy, sleep } from '../retry.ts';
import { rememberCredential, rememberSecret, safeText } from '../safe-text.ts';
import { DOCKER_HUB_API, isCertificateRejection, type RegistryFetch, type RegistryHeaders, type RegistryRequestInit, type RegistryResponse, registryScheme, speaksPlainHttp } from './network.ts';

export interface HttpRegistryOptions {
  readonly credentials: CredentialProvider;
  readonly retry?: RetryPolicy;
  readonly timeoutMs?: number;
  /**
   * Aborted when the run is told to stop (SIGINT, SIGTERM) or its time is up: requests and retry waits end at once, as
   * `interrupted`. A function when the signal changes over the client's life: a Lambda container's client serves one
   * invocation after another, each with its own deadline.
   */
  readonly signal?: AbortSignal | (() => AbortSignal | undefined);
  /** Sends every request: manifest requests, each redirect hop and the token endpoints'. */
  readonly fetch?: RegistryFetch;
  /** The wait between attempts, given the run's signal so that an interruption can end it. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Where crane may fall back to plain HTTP (registryScheme), try HTTPS first, as crane does, and keep to the scheme the
   * registry answers on (see startUrl). Without it such a registry gets plain HTTP at once: a client for a known
   * loopback registry, in tests.
   */
  readonly httpsFirst?: boolean;
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

/** Redirects followed for one request at the most: as many as Go's HTTP client, and so crane, follows. */
export const MAX_REDIRECTS = 10;

/**
 * The longest token sent. Tokens are JWTs of a few KiB; one far longer would not fit in a request's headers anyway
 * (nginx takes 8 KiB a header line by default, Node.js 16 KiB for all of them).
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

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
  /** Basic credentials hold for every scope of their origin; a Bearer token for the scope it was fetched for. */
  readonly scheme: 'basic' | 'bearer';
  readonly header: string;
  readonly expiresAt: number;
  /** The registry host whose credentials got it, to be invalidated when it is refused. */
  readonly credentialsOf?: string;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** The statuses whose Location is followed (RFC 9110, section 15.4). */
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** Answers returned to the caller rather than thrown: absent. A HEAD also passes a 405, to fall back to a GET. */
const ABSENT: ReadonlySet<number> = new Set([404]);
const ABSENT_OR_NO_HEAD: ReadonlySet<number> = new Set([404, 405]);

// Printable ASCII with no space: what an Authorization header can carry (RFC 9110, section 5.5), bounded.
const SENDABLE_TOKEN = new RegExp(`^[\\x21-\\x7e]{1,${MAX_TOKEN_LENGTH}}$`);

/** What varies between the manifest requests. */
interface RequestParts {
  readonly accept: string;
  readonly body?: string | Uint8Array;
  readonly contentType?: string;
}

const MANIFEST_REQUEST: RequestParts = { accept: MANIFEST_MEDIA_TYPES.join(', ') };
const REFERRERS_REQUEST: RequestParts = { accept: OCI_INDEX };
/** The answers to a referrers request that say the registry does not serve the API (see listReferrers). */
const REFERRERS_FALLBACK: ReadonlySet<number> = new Set([400, 404, 406]);
const BLOB_REQUEST: RequestParts = { accept: '*/*' };

/** Pages of a referrers list followed at the most (its `Link: <…>; rel="next"`): an image has a handful of referrers. */
export const MAX_REFERRERS_PAGES = 10;

// The referrers API's answer: an OCI index whose descriptors name each referrer by digest, with its artifact type
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers).
const referrersIndex = z.looseObject({
  mediaType: z.literal(OCI_INDEX),
  manifests: z.array(
    z.looseObject({
      mediaType: z.string(),
      digest: z.string().check(z.refine(isDigest, 'not a digest')),
      size: z.int().check(z.gte(0)),
      artifactType: z.exactOptional(z.string()),
      annotations: z.exactOptional(z.record(z.string(), z.string())),
    }),
  ),
});

/** One manifest request, across its attempts and redirects. */
interface Exchange {
  readonly method: string;
  readonly ref: ImageReference;
  readonly path: string;
  /**
   * The URL the request starts at: the registry's own origin, whose credentials are the registry's. Set by each attempt,
   * at the scheme found for the registry by then (see startUrl).
   */
  url: URL;
  readonly parts: RequestParts;
  /** The token scope the request needs: pull, or pull and push for a PUT. */
  readonly scope: string;
  /** Statuses besides 2xx returned as they are. */
  readonly passing: ReadonlySet<number>;
  /** Logins per origin over the whole request, retries included: credentials refused twice will not improve. */
  readonly logins: Map<string, number>;
}

/** A request's final answer, and how messages about it name the request. */
interface Answer {
  readonly response: RegistryResponse;
  readonly what: string;
}

/** One challenge of a WWW-Authenticate header: its scheme, lowercase, and its parameters, names lowercase. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Record<string, string>;
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

/** A registry's scheme, once its first answer has shown it, or while a first request finds it (see startUrl). */
interface SchemeFinding {
  /** Keeps `scheme` for the registry, and lets the requests waiting for it go. */
  found(scheme: 'http' | 'https'): void;
  /** Lets the waiting requests go, nothing found (idempotent). */
  end(): void;
}

/** The base URL of a registry's API: Docker Hub's API host for `docker.io`, else the host at `scheme`. */
function registryBaseUrl(registry: string, scheme: 'http' | 'https'): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : `${scheme}://${registry}`;
}

/**
 * Registry API client for manifest lookups: redirects followed hop by hop, the token flow (401 → Bearer or Basic) run
 * for whichever origin asks, tokens kept per origin and scope, one 401 per origin however many lookups start at once
 * (see attempt), 429 with `Retry-After` and 5xx retried with jittered backoff (Docker Hub's pull limit excepted), every
 * failure saying which request failed.
 */
export class HttpRegistryClient implements ManifestRegistry {
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetch: RegistryFetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Bearer tokens by origin and scope, Basic credentials by origin (see authKey). */
  private readonly auth = new Map<string, CachedAuth>();
  /** Registries that answered a HEAD with 405: asked by GET from then on. */
  private readonly headless = new Set<string>();
  /** The scheme each registry that may speak plain HTTP answered on (httpsFirst). */
  private readonly schemes = new Map<string, 'http' | 'https'>();
  /** Such a registry's first request, while it finds the scheme: the requests that start meanwhile wait for it. */
  private readonly findingScheme = new Map<string, Promise<void>>();
  /** Per origin, what its last 401 asked for: a request with nothing to send there logs in before it is asked. */
  private readonly challenges = new Map<string, Challenge[]>();
  /** Per origin, the request that went first while nothing was known of how it authenticates (see attempt). */
  private readonly discovering = new Map<string, Promise<void>>();
  /** Registries whose referrers API answered a 404 that is no distribution-spec error: they do not serve it. */
  private readonly withoutReferrers = new Set<string>();

  constructor(private readonly options: HttpRegistryOptions) {
    this.retry = options.retry ?? REQUEST_RETRY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? sleep;
  }

  /** The signal that ends the current run's requests, if any. */
  private get signal(): AbortSignal | undefined {
    const signal = this.options.signal;
    return typeof signal === 'function' ? signal() : signal;
  }

  /**
   * The digest by HEAD, free on Docker Hub. A HEAD answered 200 without Docker-Content-Digest is followed by a GET; a
   * registry that answers HEAD with 405 is asked by GET from then on, for the client's lifetime (a run, or a Lambda
   * container). Either GET is a counted pull, said by `pullsSpent`.
   */
  async headManifest(ref: ImageReference): Promise<ManifestHead | undefined> {
    if (!this.headless.has(ref.registry)) {
      const { response } = await this.request('HEAD', ref, manifestPath(ref), MANIFEST_REQUEST, ABSENT_OR_NO_HEAD);
      await response.body?.cancel();
      if (response.status === 404) return undefined;
      // A pinned reference found by its digest needs no digest header: the pin is the digest.
      const digest = response.headers.get('docker-content-digest') ?? ref.digest;
      if (response.status !== 405 && digest !== undefined) return headOf(ref, digest, response.headers);
      // One answer without the header may be one odd backend; a 405 is the registry saying it has no HEAD.
      if (response.status === 405) this.headless.add(ref.registry);
    }
    const fetched = await this.fetchManifest(ref);
    if (fetched === undefined) return undefined;
    const { manifest, budget } = fetched;
    return { digest: manifest.digest, ...(manifest.mediaType ? { mediaType: manifest.mediaType } : {}), ...(budget ? { budget } : {}), pullsSpent: 1 };
  }

  async getManifest(ref: ImageReference): Promise<Manifest | undefined> {
    return (await this.fetchManifest(ref))?.manifest;
  }

  /** Writes the manifest: text as UTF-8, bytes as they are (an index copied must keep the source's digest). */
  async putManifest(ref: ImageReference, body: string | Uint8Array, mediaType: string): Promise<string> {
    const { response } = await this.request('PUT', ref, manifestPath(ref), { accept: '*/*', body, contentType: mediaType });
    await response.body?.cancel();
    if (response.status === 404) throw new RegistryRequestError(`PUT ${formatReference(ref)}: 404 Not Found`, { status: 404 });
    const digest = response.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
    checkDigest(digest, `PUT ${formatReference(ref)}`);
    return digest;
  }

  /**
   * The referrers of `ref`'s digest by the OCI 1.1 referrers API, every page of it; undefined when the registry does
   * not serve the API, as go-containerregistry tells it (pkg/v1/remote/referrers.go falls back to the tag scheme on a
   * 404, 400 or 406, and on a 200 that is not an OCI index): a registry serving it answers an empty index instead. A
   * 404 that is no distribution-spec error (docker-registry's `404 page not found` text: no such route) is remembered
   * for the registry, whose next images then skip the request.
   */
  async listReferrers(ref: ImageReference): Promise<ReferrerDescriptor[] | undefined> {
    if (ref.digest === undefined) throw new RegistryRequestError(`listing the referrers of "${formatReference(ref)}": the reference names no digest`);
    if (this.withoutReferrers.has(ref.registry)) return undefined;
    const referrers: ReferrerDescriptor[] = [];
    let path = `/v2/${ref.repository}/referrers/${ref.digest}`;
    for (let page = 1; ; page += 1) {
      const { response, what } = await this.request('GET', ref, path, REFERRERS_REQUEST, REFERRERS_FALLBACK);
      const served = response.ok && mediaTypeOf(response.headers.get('content-type')) === OCI_INDEX;
      if (!served) {
        const unrouted = response.status === 404 && (await errorDetail(response)).code === undefined;
        await response.body?.cancel().catch(() => undefined);
        if (page > 1) throw new RegistryRequestError(`${what}: ${response.status} for a later page of the referrers of "${formatReference(ref)}"`, { status: response.status });
        if (unrouted) this.withoutReferrers.add(ref.registry);
        return undefined;
      }
      const bytes = await this.readBody(response, MANIFEST_BODY, what);
      const parsed = referrersIndex.safeParse(parseJson(utf8.decode(bytes)));
      if (!parsed.success) throw new RegistryRequestError(`${what}: the referrers of "${formatReference(ref)}" are not an OCI image index of descriptors: ${safeText(parsed.error.issues[0]?.message ?? 'invalid', 200)}`);
      referrers.push(...parsed.data.manifests.map(referrerOf));
      const next = nextPage(response.headers.get('link'), ref);
      if (next === undefined) return referrers;
      if (page === MAX_REFERRERS_PAGES) throw new RegistryRequestError(`${what}: the referrers of "${formatReference(ref)}" run past ${MAX_REFERRERS_PAGES} pages`);
      path = next;
    }
  }

  /** A blob by digest, redirects to a blob store followed; its bytes checked against the digest, more than `maxBytes` refused unread. */
  async getBlob(ref: ImageReference, digest: string, maxBytes: number): Promise<Uint8Array> {
    const named = `blob ${digest} of "${ref.registry}/${ref.repository}"`;
    if (!digest.startsWith('sha256:') || !isDigest(digest)) throw new RegistryRequestError(`reading ${named}: only sha256 digests are checked, and this is not one`);
    const { response, what } = await this.request('GET', ref, `/v2/${ref.repository}/blobs/${digest}`, BLOB_REQUEST);
    if (response.status === 404) {
      await response.body?.cancel();
      throw new RegistryRequestError(`${what}: reading ${named}: no such blob (404)`, { status: 404 });
    }
    const bytes = await this.readBody(response, { bytes: maxBytes, name: named, why: 'the most taken for such a blob' }, what);
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest) throw new RegistryRequestError(`${what}: the registry sent ${named} whose digest is ${got}`);
    return bytes;
  }

  /** The manifest by GET, its digest taken over the bytes received, with the pull budget its answer told. */
  private async fetchManifest(ref: ImageReference): Promise<{ manifest: Manifest; budget?: PullBudgetSeen } | undefined> {
    const { response, what } = await this.request('GET', ref, manifestPath(ref), MANIFEST_REQUEST);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const bytes = await this.readBody(response, MANIFEST_BODY, what);
    // The digest is of the bytes received: decoding first would drop a byte-order mark or replace an invalid byte.
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const body = utf8.decode(bytes);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new RegistryRequestError(`GET ${formatReference(ref)}: the registry sent a manifest whose digest is ${digest}, not the pinned ${ref.digest}`);
    }
    let json: ManifestJson;
    try {
      json = parseManifestJson(body);
    } catch (error) {
      throw new RegistryRequestError(`GET ${formatReference(ref)}: ${(error as Error).message}`);
    }
    const manifest = { digest, mediaType: json.mediaType ?? response.headers.get('content-type') ?? '', body, bytes, json };
    const budget = pullBudgetOf(response.headers);
    return budget ? { manifest, budget } : { manifest };
  }

  /**
   * Sends a request to `ref`'s registry, following redirects, authenticating and retrying as needed; any status other
   * than 2xx and `passing` throws.
   */
  private async request(method: string, ref: ImageReference, path: string, parts: RequestParts, passing = ABSENT): Promise<Answer> {
    const url = this.apiUrl(ref, path, registryScheme(ref.registry));
    const exchange: Exchange = { method, ref, path, url, parts, scope: scopeFor(method, ref), passing, logins: new Map() };
    return retrying(this.retry, () => this.attempt(exchange), {
      classify: (error) => ({ retryable: error instanceof RegistryRequestError && error.retryable, retryAfterMs: error instanceof RegistryRequestError ? error.retryAfterMs : undefined }),
      giveUp: (error, attempts, retryable) => (retryable && error instanceof RegistryRequestError ? withAttempts(error, attempts) : error),
      sleep: (ms) => this.sleep(ms, this.signal),
    });
  }

  /** `path` on the registry's API, at `scheme`. */
  private apiUrl(ref: ImageReference, path: string, scheme: 'http' | 'https'): URL {
    const base = registryBaseUrl(ref.registry, scheme);
    const url = URL.canParse(`${base}${path}`) ? new URL(`${base}${path}`) : undefined;
    if (url === undefined) throw new RegistryRequestError(`${formatReference(ref)}: "${safeText(base, 100)}" is not an HTTP(S) base URL for ${ref.registry}`);
    return url;
  }

  /**
   * Where an attempt starts: the request's path on the registry's API. Where crane may fall back to plain HTTP
   * (registryScheme) and httpsFirst is set, at the scheme the registry answered on; until it has answered, over HTTPS,
   * with a finding to report to: the first request tries HTTPS, then the same request over plain HTTP when the server
   * turns out to speak it (see attempt), as crane's ping goes from https to http (go-containerregistry v0.14.0,
   * pkg/v1/remote/transport/ping.go). The requests that start meanwhile wait for what it finds; if it found nothing
   * (no answer at all), each goes on to find out for itself.
   */
  private async startUrl(exchange: Exchange): Promise<{ url: URL; finding?: SchemeFinding }> {
    const { ref, path } = exchange;
    const rule = registryScheme(ref.registry);
    if (!this.options.httpsFirst || rule === 'https') return { url: this.apiUrl(ref, path, rule) };
    const pending = this.findingScheme.get(ref.registry);
    if (pending !== undefined) await pending;
    const known = this.schemes.get(ref.registry);
    if (known !== undefined) return { url: this.apiUrl(ref, path, known) };
    // Made before the turn opens: nothing may throw between opening it and handing over its end.
    const url = this.apiUrl(ref, path, 'https');
    const end = pending === undefined ? openTurn(this.findingScheme, ref.registry) : () => {};
    const found = (scheme: 'http' | 'https') => {
      this.schemes.set(ref.registry, scheme);
      end();
    };
    return { url, finding: { found, end } };
  }

  /**
   * One attempt, redirects followed hop by hop with each origin getting only its own token or credentials. A 401 is
   * answered by logging in at the origin that sent it (twice at the most per origin and request), not retried. What
   * the origin asked for is kept: a later request with nothing to send there logs in first, and is not asked. While
   * nothing is known of an origin, the first request to it goes alone when there are credentials for it: the others
   * wait for its answer, so that 30 lookups make one 401, not 30.
   */
  private async attempt(exchange: Exchange): Promise<Answer> {
    const start = await this.startUrl(exchange);
    exchange.url = start.url;
    let finding = start.finding;
    let httpsFailure: unknown;
    let discovery: (() => void) | undefined;
    const endDiscovery = () => {
      discovery?.();
      discovery = undefined;
    };
    let waited = false;
    let url = exchange.url;
    let method = exchange.method;
    let body = exchange.parts.body;
    try {
      for (let hops = 0; ; ) {
        const what = describeRequest(exchange.method, exchange.url, url);
        // Another origin (a redirect's backend) is sent only what was got there anonymously, never a login we hold.
        let key = this.authKeyFor(url.origin, exchange.scope, url.origin !== exchange.url.origin);
        if (key === undefined && this.challenges.has(url.origin)) {
          key = await this.loginAhead(exchange, url, what);
        } else if (key === undefined && discovery === undefined && !waited) {
          const pending = this.discovering.get(url.origin);
          if (pending === undefined) {
            discovery = openTurn(this.discovering, url.origin);
          } else if (await this.hasCredentials(exchange, url)) {
            // Once at the most: after a first answer that asked for nothing, the others go together.
            waited = true;
            await pending;
            continue;
          }
        }
        const headers: Record<string, string> = { accept: exchange.parts.accept };
        if (exchange.parts.contentType && body !== undefined) headers['content-type'] = exchange.parts.contentType;
        const sent = key === undefined ? undefined : this.auth.get(key);
        if (sent) headers.authorization = sent.header;

        let response: RegistryResponse;
        try {
          response = await this.send(url, { method, headers, ...(body === undefined ? {} : { body }) }, what);
        } catch (error) {
          const untrusted = isCertificateRejection(error);
          if (finding !== undefined && url.protocol === 'https:' && !untrusted && !(error instanceof InterruptedError)) {
            // As crane's ping, plain HTTP after HTTPS failed. A TLS handshake answered in plain text tells at once, and
            // the requests waiting go too; after another failure, only an answer over HTTP will.
            if (speaksPlainHttp(error)) finding.found('http');
            else httpsFailure = error;
            endDiscovery();
            url = exchange.url = new URL(url);
            url.protocol = 'http:';
            continue;
          }
          // A certificate we do not trust: the server speaks TLS, and the request says why it failed.
          if (finding !== undefined && untrusted) finding.found('https');
          // Nothing answered over HTTP either: HTTPS's failure is the one to tell (an interruption tells itself).
          throw error instanceof InterruptedError ? error : (httpsFailure ?? error);
        }
        httpsFailure = undefined;
        finding?.found(url.protocol === 'http:' ? 'http' : 'https');
        finding = undefined;
        if (response.status !== 401) endDiscovery();

        const next = await nextHop(response, url, what, hops);
        if (next !== undefined) {
          hops += 1;
          url = next;
          // 303 asks for a GET of the new location (RFC 9110, section 15.4.4); the others repeat the request.
          if (response.status === 303 && method !== 'HEAD') [method, body] = ['GET', undefined];
          continue;
        }
        const logins = exchange.logins.get(url.origin) ?? 0;
        if (response.status === 401 && logins < 2) {
          const header = response.headers.get('www-authenticate');
          await response.body?.cancel();
          const challenges = parseChallenges(header ?? '');
          this.rememberChallenges(url.origin, challenges);
          endDiscovery();
          // What we sent was refused (an expired ECR token, say): fetch fresh credentials, once.
          if (key !== undefined && sent) this.forget(key, sent);
          const auth = await this.login(exchange, url, challenges, header, what);
          this.auth.set(authKey(url.origin, auth.scheme === 'basic' ? undefined : exchange.scope), auth);
          // Counted once a login worked: a token endpoint's failures are retried under the policy, not held against it.
          exchange.logins.set(url.origin, logins + 1);
          continue;
        }
        if (response.ok || exchange.passing.has(response.status)) return { response, what };
        throw await refusal(response, what);
      }
    } finally {
      finding?.end();
      endDiscovery();
    }
  }

  /**
   * The cache key of what to send to `origin` for `scope`: its token for that scope, else its Basic credentials, which
   * hold for the whole origin: sent up front, they save a 401 round trip per repository.
   */
  private authKeyFor(origin: string, scope: string, anonymousOnly = false): string | undefined {
    for (const key of [authKey(origin, scope), authKey(origin, undefined)]) {
      const cached = this.auth.get(key);
      if (cached && cached.expiresAt > Date.now() && !(anonymousOnly && cached.credentialsOf !== undefined)) return key;
    }
    return undefined;
  }

  private forget(key: string, sent: CachedAuth): void {
    this.auth.delete(key);
    if (sent.credentialsOf !== undefined) this.options.credentials.invalidate?.(sent.credentialsOf);
  }

  /**
   * The credentials `url`'s origin gets: the registry's, at its own origin; none elsewhere. A redirect's backend is
   * answered anonymously: were it given the logins we hold for its host, a source could borrow them (our target's,
   * say) and have what they open taken for its own image.
   */
  private async credentialsAt(exchange: Exchange, url: URL): Promise<RegistryCredential | undefined> {
    return url.origin === exchange.url.origin ? this.options.credentials.credentialsFor(exchange.ref.registry) : undefined;
  }

  /** Whether there are credentials for `url`'s origin: it will most likely ask for them. A provider that fails says no. */
  private async hasCredentials(exchange: Exchange, url: URL): Promise<boolean> {
    return (await this.credentialsAt(exchange, url).catch(() => undefined)) !== undefined;
  }

  /** Keeps what `origin` asked for where we can give it: a Bearer realm (its scope left to each request) or Basic. */
  private rememberChallenges(origin: string, challenges: readonly Challenge[]): void {
    const usable = challenges.flatMap(({ scheme, params }): Challenge[] => {
      if (scheme === 'basic') return [{ scheme, params: {} }];
      if (scheme !== 'bearer' || !URL.canParse(params.realm ?? '') || !isHttp(new URL(params.realm ?? ''))) return [];
      return [{ scheme, params: Object.fromEntries(Object.entries(params).filter(([name]) => name !== 'scope' && name !== 'error')) }];
    });
    if (usable.length > 0) this.challenges.set(origin, usable);
    else this.challenges.delete(origin);
  }

  /**
   * Logs in at `url`'s origin as its last 401 asked, before it asks again: the cache key of what to send, undefined
   * when there is nothing to send (Basic asked, no credentials).
   */
  private async loginAhead(exchange: Exchange, url: URL, what: string): Promise<string | undefined> {
    const auth = await this.authFor(exchange, url, this.challenges.get(url.origin) ?? [], what);
    if (auth === undefined) return undefined;
    const key = authKey(url.origin, auth.scheme === 'basic' ? undefined : exchange.scope);
    this.auth.set(key, auth);
    exchange.logins.set(url.origin, (exchange.logins.get(url.origin) ?? 0) + 1);
    return key;
  }

  /** Answers a 401 from `url`'s origin: Bearer preferred (a token from its realm), then Basic. */
  private async login(exchange: Exchange, url: URL, challenges: readonly Challenge[], header: string | null, what: string): Promise<CachedAuth> {
    const auth = await this.authFor(exchange, url, challenges, what);
    if (auth !== undefined) return auth;
    if (challenges.some((challenge) => challenge.scheme === 'basic')) {
      const whose = url.origin === exchange.url.origin ? `no credentials are configured for ${exchange.ref.registry}` : `${url.host}, where ${exchange.ref.registry} redirected, asks for a login, and none is ever lent to another origin`;
      throw new RegistryRequestError(`${what}: 401 Unauthorized and ${whose}`, { status: 401 });
    }
    throw new RegistryRequestError(`${what}: 401 Unauthorized with an unsupported challenge "${safeText(header ?? '')}"`, { status: 401 });
  }

  /** What `challenges` ask of `url`'s origin: a token from the Bearer realm, else Basic credentials; undefined when we have nothing they take. */
  private async authFor(exchange: Exchange, url: URL, challenges: readonly Challenge[], what: string): Promise<CachedAuth | undefined> {
    // The registry's own origin gets the registry's credentials; another (a redirect's backend) none.
    const host = exchange.ref.registry;
    const credential = await this.credentialsAt(exchange, url);
    // Known before it is sent, so that a registry echoing it in an error answer never gets it printed.
    if (credential) rememberCredential(credential.username, credential.password);
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    // A registry spoken to over HTTPS never has its login sent in clear to a plain-HTTP token realm.
    const clearRealm = bearer !== undefined && URL.canParse(bearer.params.realm ?? '') && new URL(bearer.params.realm ?? '').protocol === 'http:' && url.protocol === 'https:';
    const basic = credential && !clearRealm ? `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` : undefined;
    if (bearer) return this.fetchToken(bearer.params, exchange.scope, basic === undefined ? undefined : { header: basic, host }, what);
    if (basic !== undefined && challenges.some((challenge) => challenge.scheme === 'basic')) return { scheme: 'basic', header: basic, expiresAt: Number.POSITIVE_INFINITY, credentialsOf: host };
    return undefined;
  }

  /**
   * A token from the challenge's realm for the scope it names (else the request's), sent the Basic credentials when there
   * are any. A refusal the policy may retry (429, 5xx, no answer) is thrown as retryable; a token that cannot be sent
   * is refused once, never shown.
   */
  private async fetchToken(params: Record<string, string>, wanted: string, basic: { header: string; host: string } | undefined, what: string): Promise<CachedAuth> {
    if (!params.realm) throw new RegistryRequestError(`${what}: 401 Unauthorized with a Bearer challenge that has no realm`, { status: 401 });
    const realm = URL.canParse(params.realm) ? new URL(params.realm) : undefined;
    if (realm === undefined || !isHttp(realm)) throw new RegistryRequestError(`${what}: 401 Unauthorized with a Bearer realm "${safeText(params.realm, 100)}" that is not an HTTP(S) URL`, { status: 401 });
    if (params.service) realm.searchParams.set('service', params.service);
    // A challenge may name several scopes, space-separated; the token endpoint takes each as a parameter of its own.
    for (const scope of (params.scope || wanted).split(' ').filter(Boolean)) realm.searchParams.append('scope', scope);
    const endpoint = `${realm.origin}${realm.pathname}`;
    const fetching = `${what}: fetching a token from ${endpoint}`;
    const response = await this.sendFollowing(realm, (origin) => (basic && origin === realm.origin ? basic.header : undefined), fetching);
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
    if (!SENDABLE_TOKEN.test(token)) {
      throw new RegistryRequestError(`${what}: the token endpoint ${endpoint} returned a token that cannot be sent: not printable ASCII without spaces, or longer than ${MAX_TOKEN_LENGTH} characters`);
    }
    // Renew a little before the registry's own expiry (60 s when it does not say).
    const lifetimeMs = Math.max(1, (body.data.expires_in ?? 60) - 10) * 1000;
    return { scheme: 'bearer', header: `Bearer ${token}`, expiresAt: Date.now() + lifetimeMs, ...(basic ? { credentialsOf: basic.host } : {}) };
  }

  /** A GET that follows redirects hop by hop, `authorization` deciding per origin what each hop is sent. */
  private async sendFollowing(start: URL, authorization: (origin: string) => string | undefined, what: string): Promise<RegistryResponse> {
    let url = start;
    for (let hops = 0; ; hops += 1) {
      const header = authorization(url.origin);
      const response = await this.send(url, { headers: header === undefined ? {} : { authorization: header } }, what);
      const next = await nextHop(response, url, what, hops);
      if (next === undefined) return response;
      url = next;
    }
  }

  /**
   * One fetch, redirects returned rather than followed (the caller decides what the next origin gets), ended by the
   * time limit or an interruption, whichever comes first; no answer throws, naming `what`.
   */
  private async send(url: URL, init: RegistryRequestInit, what: string): Promise<RegistryResponse> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const signal = this.signal;
      return await this.fetch(url, { ...init, redirect: 'manual', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  /** A body of at most `limit.bytes`, whole; a larger one is refused, no more of it read, and not retried: it will be as large next time. */
  private async readBody(response: RegistryResponse, limit: BodyLimit, what: string): Promise<Uint8Array> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readAtMost(response, limit.bytes);
    } catch (error) {
      throw this.failure(what, error);
    }
    if (bytes === undefined) throw new RegistryRequestError(`${what}: ${limit.name} is larger than ${limit.bytes >= MIB ? `${limit.bytes / MIB} MiB` : `${limit.bytes} bytes`}, ${limit.why}: not read`);
    return bytes;
  }

  /**
   * A request or body that did not come: interrupted (final); a certificate we do not trust (final: it will not be
   * trusted next time either); or cut off or timed out (another attempt may get it).
   */
  private failure(what: string, error: unknown): RegistryRequestError | InterruptedError {
    const signal = this.signal;
    if (signal?.aborted) return new InterruptedError(`${what}: ${signal.reason instanceof MirrorError ? signal.reason.message : 'interrupted'}`, { cause: error });
    if (isCertificateRejection(error)) {
      return new RegistryRequestError(`${what}: ${networkMessage(error)} (the registry's certificate is not trusted: give its CA bundle in SSL_CERT_FILE)`, { cause: error });
    }
    return new RegistryRequestError(`${what}: ${networkMessage(error)}`, { cause: error, retryable: true });
  }
}

/** What a HEAD told: a digest held to the digest grammar, and to the pin when the reference has one. */
function headOf(ref: ImageReference, digest: string, headers: RegistryHeaders): ManifestHead {
  const what = `HEAD ${formatReference(ref)}`;
  checkDigest(digest, what);
  if (ref.digest !== undefined && digest !== ref.digest) {
    throw new RegistryRequestError(`${what}: the registry sent Docker-Content-Digest ${digest}, not the pinned ${ref.digest}`);
  }
  const mediaType = headers.get('content-type');
  const budget = pullBudgetOf(headers);
  return { digest, ...(mediaType ? { mediaType } : {}), ...(budget ? { budget } : {}) };
}

/**
 * Where a redirect leads after `hops` followed, its body let go; undefined when `response` is the answer itself. A
 * redirect not followed (past MAX_REDIRECTS, to no HTTP(S) URL, from HTTPS to HTTP) throws, its body let go too: left
 * unread, its connection would hold the process until the time limit.
 */
async function nextHop(response: RegistryResponse, url: URL, what: string, hops: number): Promise<URL | undefined> {
  let next: URL | undefined;
  try {
    next = redirectOf(response, url, what);
    if (next !== undefined && hops === MAX_REDIRECTS) throw new RegistryRequestError(`${what}: more than ${MAX_REDIRECTS} redirects`);
  } catch (error) {
    await response.body?.cancel();
    throw error;
  }
  if (next !== undefined) await response.body?.cancel();
  return next;
}

/** The next hop of a redirect, resolved against the current URL; undefined when `response` is no redirect. */
function redirectOf(response: RegistryResponse, url: URL, what: string): URL | undefined {
  const location = response.headers.get('location');
  if (!REDIRECT_STATUS.has(response.status) || location === null) return undefined;
  const next = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
  if (next === undefined || !isHttp(next)) {
    throw new RegistryRequestError(`${what}: ${response.status} redirect to "${safeText(location, 100)}", which is not an HTTP(S) URL`, { status: response.status });
  }
  // From HTTPS to plain HTTP, what is sent next (a token, the manifest asked for) would travel in clear.
  if (url.protocol === 'https:' && next.protocol === 'http:') {
    throw new RegistryRequestError(`${what}: ${response.status} redirect from HTTPS to plain HTTP (${safeText(next.origin, 100)}), not followed`, { status: response.status });
  }
  return next;
}

/**
 * How a message names a request: its first URL, and the hop that answered when a redirect led elsewhere. A hop's query
 * is left out: a signed blob-store URL carries its credentials there.
 */
function describeRequest(method: string, first: URL, current: URL): string {
  const hop = `${current.origin}${current.pathname}`;
  const start = `${first.origin}${first.pathname}`;
  return hop === start ? `${method} ${start}` : `${method} ${start} (redirected to ${safeText(hop, 200)})`;
}

/** The error a refusing answer becomes: Docker Hub's pull limit is final; 408, 429 and 5xx may clear on a retry. */
async function refusal(response: RegistryResponse, what: string): Promise<RegistryRequestError> {
  const detail = await errorDetail(response);
  const message = `${what}: ${response.status} ${safeText(response.statusText, 80)}${detail.text}`;
  // Docker Hub's pull limit: every retry of a manifest GET would spend more of a budget already spent, so the image
  // waits for the next run. Told apart from other throttling (TOOMANYREQUESTS is the spec's code for any, and
  // ratelimit-* are generic names) by Docker's own header or words (https://docs.docker.com/docker-hub/usage/pulls/).
  if (response.status === 429 && detail.code === 'TOOMANYREQUESTS' && (response.headers.get('docker-ratelimit-source') !== null || /pull rate limit/i.test(detail.text))) {
    return new PullLimitError(message, { status: 429 });
  }
  if (!RETRYABLE_STATUS.has(response.status)) return new RegistryRequestError(message, { status: response.status });
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  const ErrorClass = response.status === 429 ? RateLimitedError : RegistryRequestError;
  return new ErrorClass(message, { status: response.status, retryable: true, retryAfterMs });
}

/** Opens `key`'s turn in `turns`, for others to wait on: the function returned ends it (idempotent). */
function openTurn(turns: Map<string, Promise<void>>, key: string): () => void {
  let release = () => {};
  const ended = new Promise<void>((resolve) => (release = resolve));
  turns.set(key, ended);
  return () => {
    release();
    if (turns.get(key) === ended) turns.delete(key);
  };
}

function isHttp(url: URL): boolean {
  return url.protocol === 'http:' || url.protocol === 'https:';
}

/** `repository:<name>:pull`, or `pull,push` for a write: the scope a request's token must grant. */
function scopeFor(method: string, ref: ImageReference): string {
  return `repository:${ref.repository}:${method === 'PUT' ? 'pull,push' : 'pull'}`;
}

/** The cache key of a Bearer token of `origin` for `scope`, or of its Basic credentials (scope undefined). */
function authKey(origin: string, scope: string | undefined): string {
  return scope === undefined ? `${origin} basic` : `${origin} ${scope}`;
}

/**
 * The body's bytes, read chunk by chunk; undefined, its stream cancelled, once they pass `cap` or when Content-Length
 * says they will: a registry streaming without end costs `cap` and one chunk of memory, not all of it.
 */
async function readAtMost(response: RegistryResponse, cap: number): Promise<Uint8Array | undefined> {
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

/**
 * Docker Hub's pull budget from its headers (`ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600`,
 * `docker-ratelimit-source: 192.0.2.1`; https://docs.docker.com/docker-hub/usage/pulls/#view-pull-rate-and-limit), or
 * undefined when they are absent or unreadable: such a registry is taken to count no pulls.
 */
export function pullBudgetOf(headers: RegistryHeaders): PullBudgetSeen | undefined {
  const limit = budgetHeader(headers.get('ratelimit-limit'));
  const remaining = budgetHeader(headers.get('ratelimit-remaining'));
  if (limit === undefined || remaining === undefined) return undefined;
  const source = headers.get('docker-ratelimit-source');
  return {
    limit: limit.count,
    remaining: Math.min(remaining.count, limit.count),
    windowSeconds: remaining.window ?? limit.window ?? 21_600,
    ...(source ? { source: safeText(source, 100) } : {}),
  };
}

/** `76;w=21600` → 76 pulls over 21600 s; undefined unless the count is a whole number. */
function budgetHeader(value: string | null): { count: number; window?: number } | undefined {
  const match = /^\s*(\d{1,9})\s*(?:;\s*w\s*=\s*(\d{1,9})\s*)?$/.exec(value ?? '');
  if (!match) return undefined;
  return { count: Number(match[1]), ...(match[2] === undefined ? {} : { window: Number(match[2]) }) };
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

/** A Content-Type's media type, its parameters (`; charset=…`) left out. */
function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** A referrers list's descriptor as the port names it: only the fields it reads. */
function referrerOf(entry: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }): ReferrerDescriptor {
  return {
    mediaType: entry.mediaType,
    digest: entry.digest,
    size: entry.size,
    ...(entry.artifactType === undefined ? {} : { artifactType: entry.artifactType }),
    ...(entry.annotations === undefined ? {} : { annotations: entry.annotations }),
  };
}

/** The path of a referrers list's next page (`Link: </v2/…/referrers/…?last=…>; rel="next"`), kept to the same repository's API. */
function nextPage(link: string | null, ref: ImageReference): string | undefined {
  const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link ?? '');
  if (match === null) return undefined;
  const target = match[1] as string;
  const path = URL.canParse(target) ? `${new URL(target).pathname}${new URL(target).search}` : target;
  if (!path.startsWith(`/v2/${ref.repository}/referrers/`)) throw new RegistryRequestError(`listing the referrers of "${formatReference(ref)}": the next page "${safeText(target, 100)}" is not in the repository's referrers`);
  return path;
}

function manifestPath(ref: ImageReference): string {
  return `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`;
}

// One element of a challenge list (RFC 9110, section 11.6.1): `name=value`, a parameter of the challenge before it (the
// value a token, or a quoted string in which a backslash escapes the next character), or a bare token, which starts a
// new challenge: its scheme. Commas inside quotes are part of the value; a token68 reads as a scheme, and is not used.
const CHALLENGE_ELEMENT = /[\s,]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?/y;

/**
 * Every challenge of a WWW-Authenticate value, in order: several may share one header, and several headers arrive
 * joined with ", " (`Basic realm="x", Bearer realm="https://auth.example.com/token",service="registry"`).
 */
export function parseChallenges(header: string): Challenge[] {
  const element = new RegExp(CHALLENGE_ELEMENT);
  const challenges: Challenge[] = [];
  for (let at = 0; at < header.length; ) {
    element.lastIndex = at;
    const match = element.exec(header);
    // A character no challenge can hold there (a stray quote): passed over.
    if (match === null) {
      at += 1;
      continue;
    }
    at = element.lastIndex;
    const [, name, quoted, bare] = match as unknown as [string, string, string | undefined, string | undefined];
    const current = challenges.at(-1);
    if (quoted === undefined && bare === undefined) challenges.push({ scheme: name.toLowerCase(), params: {} });
    else if (current) current.params[name.toLowerCase()] = quoted?.replace(/\\(.)/g, '$1') ?? bare ?? '';
  }
  return challenges;
}

/** The registry's own words on a failure, best effort: its first error's code, and the text to show (empty when there is none). */
async function errorDetail(response: RegistryResponse): Promise<{ code?: string; text: string }> {
  const bytes = await readAtMost(response, MAX_ERROR_BYTES).catch(() => undefined);
  const parsed = errorBody.safeParse(parseJson(bytes === undefined ? '' : utf8.decode(bytes)));
  const first = parsed.success ? parsed.data.errors?.[0] : undefined;
  if (!first) return { text: '' };
  // The registry's words, made safe to print: they reach logs and pull-request comments.
  const text = ` (${safeText([first.code, first.message].filter(Boolean).join(': '), 300)})`;
  return first.code === undefined ? { text } : { code: first.code, text };
}

function networkMessage(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
