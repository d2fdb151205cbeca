import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listening } from './listening.ts';

/**
 * A registry front that serves nothing itself: every API request under /v2/ (manifests and blobs alike) is answered
 * with a 307 to the same path on a backend of another origin. Built from:
 *   https://github.com/kubernetes/registry.k8s.io/blob/main/cmd/archeio/docs/request-handling.md: registry.k8s.io
 *     redirects manifest requests to the "Upstream Registry", a region-specific Artifact Registry backend, and blob
 *     requests to it or to an S3 bucket; its handlers answer with `http.StatusTemporaryRedirect`, 307
 *     (cmd/archeio/internal/app/handlers.go). Artifact Registry asks for a token of its own, from its own realm;
 *   https://distribution.github.io/distribution/spec/api/ ("Pulling a Layer"): a registry may answer a blob GET
 *     with a 307 to where the bytes are, as Docker Hub does to its CDN once its own token has been checked.
 * Options: `token`, the front wants a Bearer token of its own (from its own `/token`) on every /v2/ request before it
 * redirects, as Docker Hub does; without it, `/v2/` answers 200 and the rest is redirected to anyone.
 */
export interface RedirectingRegistryOptions {
  /** The backend's base URL, another origin than the front's `127.0.0.1:<port>`: `http://localhost:<port>`. */
  readonly backend: string;
  readonly token?: boolean;
}

/** One request as the front saw it. */
export interface RedirectingRegistryEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly authorization?: string;
}

/** A running front. */
export interface RedirectingRegistry {
  /** `127.0.0.1:port`, usable as a registry host. */
  readonly host: string;
  readonly log: RedirectingRegistryEntry[];
  /** The tokens the front handed out. */
  readonly tokens: string[];
  close(): Promise<void>;
}

/** Starts the front on a loopback port of its own. */
export async function startRedirectingRegistry(options: RedirectingRegistryOptions): Promise<RedirectingRegistry> {
  const backend = options.backend.replace(/\/+$/, '');
  const log: RedirectingRegistryEntry[] = [];
  const tokens: string[] = [];
  let host = '';

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body = '') => {
    log.push({ method: req.method ?? '', path: req.url ?? '', status, ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }) });
    res.writeHead(status, { 'docker-distribution-api-version': 'registry/2.0', ...headers }).end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (options.token && url.pathname === '/token') {
      // archeio's token is a 32-hex-digit pull-session ID (serveToken, handlers.go); Docker Hub's a JWT.
      const token = randomBytes(16).toString('hex');
      tokens.push(token);
      return answer(req, res, 200, { 'content-type': 'application/json' }, JSON.stringify({ token, expires_in: 3600 }));
    }
    if (!url.pathname.startsWith('/v2/')) return answer(req, res, 404, {});
    if (options.token && !tokens.some((token) => req.headers.authorization === `Bearer ${token}`)) {
      const repository = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = repository === undefined ? '' : `,scope="repository:${repository}:pull"`;
      return answer(req, res, 401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="${host}"${scope}`, 'content-type': 'application/json' }, '{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    // archeio answers `/v2/` itself (the version check), and redirects every other API request.
    if (url.pathname === '/v2/') return answer(req, res, 200, { 'content-type': 'application/json' }, '{}');
    return answer(req, res, 307, { location: `${backend}${req.url}` });
  });
  const { port, close } = await listening(server);
  host = `127.0.0.1:${port}`;
  return {
    host,
    log,
    tokens,
    close,
  };
}
