import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

/*
 * A forward proxy, as a corporate network's egress proxy behaves, for HTTPS_PROXY / HTTP_PROXY:
 * - CONNECT (RFC 9110 §9.3.6): the request target is `host:port` in authority-form (RFC 9112 §3.2.3); the proxy opens a
 *   TCP connection there and answers 2xx, after which the connection is a blind tunnel in both directions (TLS to the
 *   registry runs inside it, unseen). A target it cannot reach gets a 502 (Bad Gateway, RFC 9110 §15.6.3).
 * - A plain-http request in absolute-form (`GET http://host:port/path`, RFC 9112 §3.2.2) is forwarded, without the
 *   hop-by-hop fields (RFC 9110 §7.6.1: Connection and those it names, Proxy-Connection, Proxy-Authorization, …).
 * It resolves the names in `hosts` itself (e.g. `registry.proxy.test` → 127.0.0.1): a client that does not go through
 * the proxy cannot reach such a name at all, which is what proves the proxy was used.
 */

export interface ConnectProxyOptions {
  /** Host names this proxy resolves itself, to an address; other names are looked up as usual. */
  readonly hosts?: Readonly<Record<string, string>>;
}

/** One CONNECT the proxy answered: the authority asked for, the client's User-Agent, and whether the tunnel opened. */
export interface TunnelRecord {
  readonly authority: string;
  readonly userAgent: string | undefined;
  readonly opened: boolean;
}

/** One absolute-form request the proxy forwarded (or refused). */
export interface ForwardRecord {
  readonly method: string;
  readonly url: string;
  readonly status: number;
}

export interface ConnectProxy {
  /** `http://127.0.0.1:port`: the value for HTTPS_PROXY / HTTP_PROXY. */
  readonly url: string;
  readonly tunnels: readonly TunnelRecord[];
  readonly forwarded: readonly ForwardRecord[];
  close(): Promise<void>;
}

// RFC 9110 §7.6.1 and the de-facto Proxy-Connection: fields for this hop only, never passed on.
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** Starts the proxy on 127.0.0.1, on a free port. */
export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const hosts = new Map(Object.entries(options.hosts ?? {}).map(([name, address]) => [name.toLowerCase(), address]));
  const resolveHost = (name: string) => hosts.get(name.toLowerCase()) ?? name;
  const tunnels: TunnelRecord[] = [];
  const forwarded: ForwardRecord[] = [];
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  const server = createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      target = new URL('invalid:');
    }
    // Only absolute-form http requests are a proxy's to forward; anything else was not meant for a proxy.
    if (target.protocol !== 'http:') {
      forwarded.push({ method: req.method ?? '', url: req.url ?? '', status: 400 });
      res.writeHead(400, { 'content-type': 'text/plain' }).end('a proxy request needs an absolute http URL\n');
      return;
    }
    const upstream = httpRequest(
      { host: resolveHost(target.hostname), port: Number(target.port || 80), method: req.method, path: `${target.pathname}${target.search}`, headers: endToEnd(req.headers, target.host) },
      (answer) => {
        forwarded.push({ method: req.method ?? '', url: target.href, status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      forwarded.push({ method: req.method ?? '', url: target.href, status: 502 });
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  });

  server.on('connect', (req, client: Socket, head: Buffer) => {
    track(client);
    const authority = req.url ?? '';
    const userAgent = req.headers['user-agent'];
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(authority);
    if (!match) {
      tunnels.push({ authority, userAgent, opened: false });
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const upstream = connect(Number(match[2]), resolveHost((match[1] as string).replace(/^\[|\]$/g, '')));
    track(upstream);
    let opened = false;
    upstream.once('connect', () => {
      opened = true;
      tunnels.push({ authority, userAgent, opened: true });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => {
      if (opened) return void client.destroy();
      tunnels.push({ authority, userAgent, opened: false });
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.on('connection', track);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    forwarded,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The fields to pass on: hop-by-hop ones dropped, with those the Connection field names; `host` set when given. */
function endToEnd(headers: IncomingHttpHeaders, host?: string): IncomingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.includes(name) && !named.includes(name)) out[name] = value;
  }
  if (host !== undefined) out.host = host;
  return out;
}
