import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A registry that logs in with Basic auth, answers manifest HEADs from a real registry behind it, and refuses every
 * other request with a 403 whose error message (the distribution spec's `{"errors": [{code, message}]}`) is whatever
 * `message` makes of the request: a workflow command, terminal escapes, the request's own Authorization header.
 * crane prints such a message in its error line; our lookups print it in theirs.
 */
export interface HostileRegistryOptions {
  /** `host:port` of the real registry that answers the HEADs. */
  readonly upstream: string;
  readonly username: string;
  readonly password: string;
  /** The message of the 403. */
  readonly message: (request: IncomingMessage) => string;
}

export interface HostileRegistry {
  readonly host: string;
  close(): Promise<void>;
}

export async function startHostileRegistry(options: HostileRegistryOptions): Promise<HostileRegistry> {
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}');
      return;
    }
    const manifest = /^\/v2\/.+\/manifests\//.test(req.url ?? '');
    if (manifest && req.method === 'HEAD') {
      void fetch(`http://${options.upstream}${req.url}`, { method: 'HEAD', headers: { accept: req.headers.accept ?? '*/*' } }).then(
        (upstream) => res.writeHead(upstream.status, Object.fromEntries(upstream.headers)).end(),
        () => res.writeHead(502).end(),
      );
      return;
    }
    if (req.url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: options.message(req) }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
