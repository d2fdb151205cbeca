import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Docker Hub stand-in in front of a real registry: Docker Hub's token flow on a token service of its own origin, and
 * its pull rate limit, as documented at
 *   https://docs.docker.com/docker-hub/usage/pulls/ ("Pull definition", "View pull rate and limit"),
 *   https://distribution.github.io/distribution/spec/auth/token/ (the token flow Docker Hub implements).
 * What the documents leave open is marked "emulator's choice".
 */
export interface DockerHubOptions {
  /** `host:port` of the real registry that holds the images (plain HTTP, no auth). */
  readonly backend: string;
  /** Pulls per window: 100 is Docker Hub's limit for unauthenticated users. */
  readonly limit?: number;
  /** Pulls left at start (and after `reset()`); the limit by default. */
  readonly remaining?: number;
  /** The window in `ratelimit-*;w=`, in seconds: Docker Hub's is 6 hours. */
  readonly windowSeconds?: number;
  /** The `docker-ratelimit-source` value: the client's IP address on Docker Hub. */
  readonly source?: string;
  /** A paid subscription: no pull rate limit and no ratelimit headers. */
  readonly unlimited?: boolean;
  /**
   * The limit enforced without the ratelimit headers, as when other clients behind the same address spend the pulls
   * between our HEAD and our GET, or Docker Hub's abuse rate limit
   * (https://docs.docker.com/docker-hub/usage/#abuse-rate-limit): the 429 is then the first a client hears of it.
   */
  readonly silent?: boolean;
  /** Accounts the token service accepts with Basic credentials (username → password); anonymous requests are always accepted. */
  readonly users?: Readonly<Record<string, string>>;
}

/** A running emulator; counters are live and count since start or the last `reset()`. */
export interface DockerHubEmulator {
  /** `localhost:port`: the registry host as written in image references. */
  readonly host: string;
  /** `http://127.0.0.1:port`: the token service, another origin than the registry. */
  readonly tokenOrigin: string;
  /** Pulls left in the window. */
  readonly remaining: number;
  /** Manifest GETs that spent a pull (or would have, when unlimited); the ones refused with 429 are in `tooManyRequests`. */
  readonly manifestGets: number;
  /** `manifestGets` by repository name. */
  readonly manifestGetsByRepository: Readonly<Record<string, number>>;
  readonly manifestHeads: number;
  /** 429 answers sent. */
  readonly tooManyRequests: number;
  /** Requests to the token service, refused ones included. */
  readonly tokenRequests: number;
  /** Sets the pulls left, as other clients behind the same address (the cluster) spending pulls would. */
  setRemaining(remaining: number): void;
  /** Zeroes the counters and restores the starting `remaining`, as a new window would. */
  reset(): void;
  close(): Promise<void>;
}

/** Docker Hub's token service name: https://auth.docker.io/token?service=registry.docker.io. */
export const DOCKER_HUB_SERVICE = 'registry.docker.io';

/** The body of Docker Hub's 429, word for word from "View pull rate and limit", in the distribution error envelope. */
export const TOO_MANY_REQUESTS_BODY = JSON.stringify({
  errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limits' }],
});

const TOKEN_LIFETIME_SECONDS = 300;
const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

type Resource = 'manifests' | 'blobs' | 'tags';
type Route = { readonly kind: 'base' } | { readonly kind: 'repository'; readonly name: string; readonly resource: Resource };

interface Grant {
  readonly access: ReadonlyMap<string, ReadonlySet<string>>;
  readonly expiresAt: number;
}

/** Starts the registry and its token service, each on its own loopback port. */
export async function startDockerHub(options: DockerHubOptions): Promise<DockerHubEmulator> {
  const limit = options.limit ?? 100;
  const windowSeconds = options.windowSeconds ?? 21_600;
  const start = options.remaining ?? limit;
  const source = options.source ?? '192.0.2.1';
  const users = options.users ?? {};
  const unlimited = options.unlimited ?? false;
  const silent = options.silent ?? false;
  requireCount('limit', limit, 1, Number.MAX_SAFE_INTEGER);
  requireCount('windowSeconds', windowSeconds, 1, Number.MAX_SAFE_INTEGER);
  requireCount('remaining', start, 0, limit);

  let remaining = start;
  let counts = emptyCounts();
  const grants = new Map<string, Grant>();
  let host = '';
  let tokenOrigin = '';

  // https://docs.docker.com/docker-hub/usage/pulls/ "View pull rate and limit": manifest answers, HEAD and GET, carry
  // these three headers; none at all when there is no limit (a paid subscription).
  const rateHeaders = (): Record<string, string> =>
    unlimited || silent ? {} : { 'ratelimit-limit': `${limit};w=${windowSeconds}`, 'ratelimit-remaining': `${remaining};w=${windowSeconds}`, 'docker-ratelimit-source': source };

  const registry = createServer((req, res) => {
    const route = routeOf(new URL(req.url ?? '/', 'http://registry.invalid').pathname);
    if (!route) return sendJson(res, 404, { ...API_VERSION }, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
    const actions = actionsFor(req.method);
    const presented = bearerOf(req);
    const grant = presented === undefined ? undefined : grants.get(presented);
    const valid = grant !== undefined && grant.expiresAt > Date.now();
    // Token spec, "How to authenticate": a request without a valid token gets 401 and a Bearer challenge naming the
    // realm, the service and, for a repository, the scope to ask for.
    if (!valid || (route.kind === 'repository' && !actions.every((action) => grant.access.get(route.name)?.has(action)))) {
      const scope = route.kind === 'repository' ? `repository:${route.name}:${actions.join(',')}` : undefined;
      const error = valid ? 'insufficient_scope' : presented !== undefined ? 'invalid_token' : undefined;
      const challenge = `Bearer realm="${tokenOrigin}/token",service="${DOCKER_HUB_SERVICE}"${scope ? `,scope="${scope}"` : ''}${error ? `,error="${error}"` : ''}`;
      const detail = route.kind === 'repository' ? actions.map((action) => ({ Type: 'repository', Name: route.name, Action: action })) : undefined;
      return sendJson(res, 401, { ...API_VERSION, 'www-authenticate': challenge }, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', ...(detail ? { detail } : {}) }] });
    }
    // Nothing to push, delete or mount here: a mirror only reads from Docker Hub. On a repository the token service
    // never grants more than pull, so writes end at the 401 above; on /v2/ the method itself is refused.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { ...API_VERSION, allow: 'GET, HEAD' }, { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] });
    }
    if (route.kind === 'base') return sendJson(res, 200, { ...API_VERSION }, {});
    if (route.resource !== 'manifests') return forward(req, res, {});
    if (req.method === 'HEAD') {
      // "Pull definition": a version check (a HEAD) does not count.
      counts.manifestHeads += 1;
      return forward(req, res, rateHeaders());
    }
    // "Pull definition": a pull is a manifest GET, one for a single-platform image and one per architecture for a
    // multi-arch image. Each GET is charged here, the index's included (as crane's copy of an index is 1 + its
    // entries), before the backend answers, so that concurrent GETs can never overspend; whether Docker Hub charges a
    // GET of a missing manifest is not documented, and charging it is the emulator's choice.
    if (!unlimited && remaining <= 0) {
      counts.tooManyRequests += 1;
      // "View pull rate and limit": over the limit, a 429 with this message when the manifest is requested.
      return send(res, 429, { ...API_VERSION, ...rateHeaders(), 'content-type': 'application/json' }, TOO_MANY_REQUESTS_BODY);
    }
    if (!unlimited) remaining -= 1;
    counts.manifestGets += 1;
    counts.manifestGetsByRepository[route.name] = (counts.manifestGetsByRepository[route.name] ?? 0) + 1;
    return forward(req, res, rateHeaders());
  });

  // Streams the request to the backend and its answer back, with `extra` headers added.
  const forward = (req: IncomingMessage, res: ServerResponse, extra: Record<string, string>): void => {
    const headers: OutgoingHttpHeaders = { ...req.headers, host: options.backend };
    delete headers.authorization;
    const upstream = httpRequest(`http://${options.backend}${req.url ?? '/'}`, { method: req.method, headers }, (answer) => {
      const out: OutgoingHttpHeaders = { ...answer.headers, ...extra };
      for (const name of HOP_BY_HOP) delete out[name];
      const location = answer.headers.location;
      if (location?.startsWith(`http://${options.backend}/`)) out.location = `http://${host}${location.slice(`http://${options.backend}`.length)}`;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 502, { ...API_VERSION }, { errors: [{ code: 'UNAVAILABLE', message: 'backend unavailable' }] });
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  // Token spec, "Requesting a Token": GET <realm>?service=…&scope=… (scope repeatable), Basic credentials optional.
  const tokens = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') return sendJson(res, 404, {}, { details: 'not found' });
    counts.tokenRequests += 1;
    // Emulator's choice: only the GET form; crane and docker use it for Basic credentials and anonymous pulls.
    if (req.method !== 'GET') return sendJson(res, 405, { allow: 'GET' }, { details: 'method not allowed' });
    // Token spec: "If an attempt to authenticate to the token server fails, the token server should return a 401".
    if (req.headers.authorization !== undefined && !authenticates(req.headers.authorization, users)) {
      return sendJson(res, 401, { 'www-authenticate': 'Basic realm="docker-hub-emulator"' }, { details: 'incorrect username or password' });
    }
    // Emulator's choice: a token for another service, or a scope that is not type:name:actions, is refused with 400.
    const service = url.searchParams.get('service');
    if (service !== DOCKER_HUB_SERVICE) return sendJson(res, 400, {}, { details: `unknown service ${JSON.stringify(service)}` });
    const access = new Map<string, Set<string>>();
    for (const scope of url.searchParams.getAll('scope').flatMap((value) => value.split(' ')).filter(Boolean)) {
      const parsed = parseScope(scope);
      if (!parsed) return sendJson(res, 400, {}, { details: `invalid scope ${JSON.stringify(scope)}` });
      // Token spec: the token grants the intersection of what was asked and what is allowed, and a subset is no error.
      // Anyone may pull a public repository; nobody pushes, deletes or lists the catalogue here.
      if (parsed.type !== 'repository' || !parsed.actions.includes('pull')) continue;
      const granted = access.get(parsed.name) ?? new Set<string>();
      granted.add('pull');
      access.set(parsed.name, granted);
    }
    const token = randomBytes(24).toString('base64url');
    const issuedAt = new Date();
    grants.set(token, { access, expiresAt: issuedAt.getTime() + TOKEN_LIFETIME_SECONDS * 1000 });
    // Token spec, "Token Response Fields": `token` and its OAuth 2.0 alias `access_token`, `expires_in`, `issued_at`.
    return sendJson(res, 200, {}, { token, access_token: token, expires_in: TOKEN_LIFETIME_SECONDS, issued_at: issuedAt.toISOString() });
  });

  // Two origins, as registry-1.docker.io and auth.docker.io are: another port, and another host name for the same
  // loopback address, so that a client which sends its credentials or tokens by origin keeps them apart.
  const registryPort = await listen(registry);
  const tokenPort = await listen(tokens);
  host = `localhost:${registryPort}`;
  tokenOrigin = `http://127.0.0.1:${tokenPort}`;

  return {
    host,
    tokenOrigin,
    get remaining() {
      return remaining;
    },
    get manifestGets() {
      return counts.manifestGets;
    },
    get manifestGetsByRepository() {
      return { ...counts.manifestGetsByRepository };
    },
    get manifestHeads() {
      return counts.manifestHeads;
    },
    get tooManyRequests() {
      return counts.tooManyRequests;
    },
    get tokenRequests() {
      return counts.tokenRequests;
    },
    setRemaining(value: number) {
      requireCount('remaining', value, 0, limit);
      remaining = value;
    },
    reset() {
      counts = emptyCounts();
      remaining = start;
    },
    close: async () => {
      await Promise.all([registry, tokens].map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }));
    },
  };
}

function emptyCounts() {
  return { manifestGets: 0, manifestGetsByRepository: {} as Record<string, number>, manifestHeads: 0, tooManyRequests: 0, tokenRequests: 0 };
}

function requireCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
}

// /v2/ itself, or /v2/<name>/(manifests|blobs|tags)/… with a name of distribution's path components.
function routeOf(pathname: string): Route | undefined {
  if (pathname === '/v2/') return { kind: 'base' };
  const match = /^\/v2\/((?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)\/(manifests|blobs|tags)\/./.exec(pathname);
  return match ? { kind: 'repository', name: match[1] as string, resource: match[2] as Resource } : undefined;
}

// What a request needs in its token's scope; a write asks for push as Docker Hub's challenge does (`pull,push`).
function actionsFor(method: string | undefined): string[] {
  if (method === 'GET' || method === 'HEAD') return ['pull'];
  if (method === 'DELETE') return ['delete'];
  return ['pull', 'push'];
}

function bearerOf(req: IncomingMessage): string | undefined {
  const match = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

function authenticates(authorization: string, users: Readonly<Record<string, string>>): boolean {
  const match = /^Basic (\S+)$/i.exec(authorization);
  if (!match) return false;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const username = decoded.slice(0, colon);
  return Object.hasOwn(users, username) && users[username] === decoded.slice(colon + 1);
}

// Token scope: `type:name:actions`; a name may itself hold a colon (a host with a port), so split at both ends.
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first + 1) return undefined;
  const actions = scope.slice(last + 1).split(',');
  if (actions.some((action) => !/^(?:[a-z]+|\*)$/.test(action))) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body);
}

function sendJson(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: object): void {
  send(res, status, { ...headers, 'content-type': 'application/json' }, JSON.stringify(body));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
