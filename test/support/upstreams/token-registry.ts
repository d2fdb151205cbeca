import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import { listening } from './listening.ts';

/**
 * A registry that wants a Bearer token on every API request, public images included, as GHCR does, in front of a real
 * registry that holds the images. Built from:
 *   https://distribution.github.io/distribution/spec/auth/token/ (the flow: a 401 with `WWW-Authenticate: Bearer
 *     realm=…,service=…,scope=…`, then `GET <realm>?service=…&scope=…`, answered `{"token": …}`);
 *   https://docs.github.com/en/packages/working-with-a-github-packages-registry/working-with-the-container-registry
 *     (public images are pulled anonymously);
 *   GHCR's answers as clients see them: `Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:
 *     <name>:pull"` on a repository's requests, and a token endpoint that gives an anonymous pull token with no
 *     credentials, `{"token":"djE6…"}`, without `expires_in`.
 * Also, for registries that offer more than one way in, the challenges of a 401 can be any list of WWW-Authenticate
 * headers made around the Bearer one (RFC 9110, section 11.6.1: one header may hold several challenges, and a response
 * may hold several headers), and Basic credentials can be accepted beside tokens.
 */
export interface TokenRegistryOptions {
  /** `host:port` of the real registry that holds the images (plain HTTP, no auth). */
  readonly upstream: string;
  /** The name it goes by, in its `host` and its realm: `localhost` makes it another origin than a `127.0.0.1` one. */
  readonly hostname?: 'localhost' | '127.0.0.1';
  /** The `service` of its challenge: `ghcr.io` by default. */
  readonly service?: string;
  /** The WWW-Authenticate headers of a 401, made from its Bearer challenge: that one alone by default. */
  readonly challenges?: (bearer: string) => string[];
  /** Basic credentials it takes too, on API requests and at its token endpoint; anonymous token requests are always served. */
  readonly basic?: { readonly username: string; readonly password: string };
}

/** One request as the registry saw it: its token endpoint's included. */
export interface TokenRegistryEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly authorization?: string;
}

/** A running registry. */
export interface TokenRegistry {
  /** `hostname:port`, usable as a registry host. */
  readonly host: string;
  readonly log: TokenRegistryEntry[];
  /** The tokens handed out, in order. */
  readonly tokens: string[];
  close(): Promise<void>;
}

/** Starts the registry, its token endpoint at `/token` on the same origin, on a loopback port of its own. */
export async function startTokenRegistry(options: TokenRegistryOptions): Promise<TokenRegistry> {
  const service = options.service ?? 'ghcr.io';
  const basic = options.basic ? `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64')}` : undefined;
  // Token → the repositories it may pull.
  const grants = new Map<string, Set<string>>();
  const tokens: string[] = [];
  const log: TokenRegistryEntry[] = [];
  let host = '';

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | string[]>, body: string) => {
    log.push(entryOf(req, status));
    res.writeHead(status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...headers }).end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname === '/token') {
      // Emulator's choice: Basic credentials, when sent, must be right; none at all is an anonymous pull.
      if (req.headers.authorization !== undefined && req.headers.authorization !== basic) return answer(req, res, 401, {}, '{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      const pullable = pullableRepositories(url.searchParams.getAll('scope'));
      // GHCR's anonymous tokens are base64 of `v1:…`, hence `djE6`.
      const token = Buffer.from(`v1:${randomBytes(18).toString('hex')}`).toString('base64');
      grants.set(token, pullable);
      tokens.push(token);
      return answer(req, res, 200, {}, JSON.stringify({ token }));
    }
    if (!url.pathname.startsWith('/v2/')) return answer(req, res, 404, {}, '{"errors":[{"code":"NOT_FOUND"}]}');
    const repository = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    const reading = req.method === 'GET' || req.method === 'HEAD';
    const granted = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const allowed = (basic !== undefined && req.headers.authorization === basic) || (granted !== undefined && reading && (repository === undefined ? grants.has(granted) : grants.get(granted)?.has(repository) === true));
    if (!allowed) {
      // GHCR names a placeholder repository for /v2/ itself, and the repository asked for everywhere else.
      const scope = `repository:${repository ?? 'user/image'}:${reading ? 'pull' : 'pull,push'}`;
      const bearer = `Bearer realm="http://${host}/token",service="${service}",scope="${scope}"`;
      return answer(req, res, 401, { 'www-authenticate': options.challenges?.(bearer) ?? bearer }, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const upstream = httpRequest(`http://${options.upstream}${req.url}`, { method: req.method, headers }, (up) => {
      log.push(entryOf(req, up.statusCode ?? 0));
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => answer(req, res, 502, {}, '{"errors":[{"code":"UNAVAILABLE"}]}'));
    req.pipe(upstream);
  });
  const { port, close } = await listening(server);
  host = `${options.hostname ?? '127.0.0.1'}:${port}`;
  return {
    host,
    log,
    tokens,
    close,
  };
}

// Token spec: the token grants what was asked and is allowed; here, pulling any repository asked for.
function pullableRepositories(scopes: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const scope of scopes.flatMap((value) => value.split(' '))) {
    const match = /^repository:(.+):([a-z,*]+)$/.exec(scope);
    if (match?.[2]?.split(',').includes('pull')) out.add(match[1] as string);
  }
  return out;
}

function entryOf(req: IncomingMessage, status: number): TokenRegistryEntry {
  return { method: req.method ?? '', path: req.url ?? '', status, ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }) };
}
