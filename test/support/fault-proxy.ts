import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An injected fault for requests that match (the proxy's own token endpoint, `/token`, included), for the first `times` of them. */
export interface Fault {
  readonly method?: string;
  readonly path?: RegExp;
  readonly times: number;
  /** An error answer with this status (the default action). */
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /**
   * `reset`: pass the request on, then cut the connection after `afterBytes` of the body; `stall`: never answer;
   * `endless`: answer 200 with a body that never ends, as a broken or hostile registry may.
   */
  readonly action?: 'status' | 'reset' | 'stall' | 'endless';
  readonly afterBytes?: number;
  /** Only requests carrying an Authorization header (e.g. to reject a token once, as an expired one is). */
  readonly whenAuthorized?: boolean;
}

export interface FaultProxyOptions {
  /** `host:port` of the real registry behind the proxy. */
  readonly upstream: string;
  readonly faults?: Fault[];
  /** Demand a Bearer token from our own token endpoint, as Docker Hub, GHCR and Quay do. */
  readonly bearer?: { readonly token: string; readonly username?: string; readonly password?: string };
}

export interface FaultProxy {
  /** `127.0.0.1:port`, usable as a registry host. */
  readonly host: string;
  /** Every request seen, in order: method, path and the status answered; for an endless body, what was sent before the client hung up. */
  readonly log: { method: string; path: string; status: number; authorization?: string; sentBeforeHangUp?: number }[];
  close(): Promise<void>;
}

/** What an endless body is made of: JSON whitespace, 64 KiB at a time. */
const ENDLESS_CHUNK = Buffer.alloc(64 * 1024, ' ');

/** A loopback HTTP proxy in front of a real registry that can demand tokens and inject error answers. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const remaining = (options.faults ?? []).map((fault) => ({ ...fault, left: fault.times }));
  const stalled = new Set<ServerResponse>();
  const log: FaultProxy['log'] = [];
  let host = '';

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string> = {}, body = '') => {
    log.push({ method: req.method ?? '', path: req.url ?? '', status, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    res.writeHead(status, headers).end(body);
  };

  // A chunk every few milliseconds, written only while the client keeps reading, until it hangs up.
  const streamForever = (req: IncomingMessage, res: ServerResponse) => {
    const entry: FaultProxy['log'][number] = { method: req.method ?? '', path: req.url ?? '', status: 200 };
    log.push(entry);
    res.writeHead(200, { 'content-type': 'application/json' });
    let sent = 0;
    const timer = setInterval(() => {
      if (res.writableNeedDrain) return;
      res.write(ENDLESS_CHUNK);
      sent += ENDLESS_CHUNK.length;
    }, 2);
    res.on('close', () => {
      clearInterval(timer);
      entry.sentBeforeHangUp = sent;
    });
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    const fault = remaining.find(
      (f) =>
        f.left > 0 &&
        (f.method === undefined || f.method === req.method) &&
        (f.path === undefined || f.path.test(url.pathname)) &&
        (!f.whenAuthorized || req.headers.authorization !== undefined),
    );
    // A reset counts only once it has happened (a body shorter than `afterBytes` passes untouched).
    if (fault && fault.action !== 'reset') fault.left -= 1;
    if (fault?.action === 'stall') {
      log.push({ method: req.method ?? '', path: req.url ?? '', status: 0 });
      stalled.add(res);
      return;
    }
    if (fault?.action === 'endless') return streamForever(req, res);
    if (fault && fault.action !== 'reset') {
      const status = fault.status ?? 503;
      return answer(req, res, status, { 'content-type': 'application/json', ...fault.headers }, `{"errors":[{"code":"INJECTED","message":"injected ${status}"}]}`);
    }
    if (options.bearer && url.pathname === '/token') {
      const { username, password, token } = options.bearer;
      if (username !== undefined && req.headers.authorization !== `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`) {
        return answer(req, res, 401, { 'content-type': 'application/json' }, '{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      return answer(req, res, 200, { 'content-type': 'application/json' }, JSON.stringify({ token, expires_in: 300 }));
    }
    if (options.bearer && url.pathname.startsWith('/v2/') && req.headers.authorization !== `Bearer ${options.bearer.token}`) {
      const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1] ?? '';
      return answer(req, res, 401, {
        'www-authenticate': `Bearer realm="http://${host}/token",service="fault-proxy",scope="repository:${repo}:pull"`,
        'content-type': 'application/json',
      }, '{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    // The Host header is kept, so that upload locations the registry sends point back at the proxy.
    const headers = { ...req.headers };
    if (options.bearer) delete headers.authorization;
    const upstream = httpRequest(`http://${options.upstream}${req.url}`, { method: req.method, headers }, (up) => {
      log.push({ method: req.method ?? '', path: req.url ?? '', status: up.statusCode ?? 0 });
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (fault?.action !== 'reset') return void up.pipe(res);
      let sent = 0;
      let cut = false;
      up.on('data', (chunk: Buffer) => {
        if (cut) return;
        const limit = fault.afterBytes ?? 0;
        if (sent + chunk.length <= limit) {
          res.write(chunk);
          sent += chunk.length;
          return;
        }
        res.write(chunk.subarray(0, limit - sent));
        cut = true;
        fault.left -= 1;
        up.destroy();
        res.socket?.destroy();
      });
      up.on('end', () => {
        if (!cut) res.end();
      });
    });
    upstream.on('error', () => answer(req, res, 502));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    log,
    close: () => {
      for (const res of stalled) res.socket?.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
