import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A loopback TCP proxy that holds every byte a client sends for a fixed time before passing it on. */
export interface DelayProxy {
  /** `127.0.0.1:port`, usable as a registry host. */
  readonly host: string;
  close(): Promise<void>;
}

/**
 * Starts a proxy in front of `upstream` (`host:port`) on `port` (0: any free port). Each HTTP request reaches the
 * upstream `delayMs` late and its answer comes straight back: one round trip added per request, as to a distant
 * registry (connection set-up, which costs more round trips on the internet, is not modelled).
 * It works below HTTP, so Host and Location headers are left as the client and the registry wrote them, and it costs
 * about half the CPU of an HTTP proxy per byte: on a small machine the stand-in for the internet must not eat the cores
 * the tools measured need.
 */
const TLS_HANDSHAKE = 0x16;

export async function startDelayProxy(upstream: string, delayMs: number, port = 0): Promise<DelayProxy> {
  const [upstreamHost = '127.0.0.1', upstreamPort = '80'] = upstream.split(':');
  const sockets = new Set<Socket>();
  // Half-open sockets stay writable: a client that has sent all it had still gets the whole answer.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const target = connect({ port: Number(upstreamPort), host: upstreamHost, allowHalfOpen: true });
    sockets.add(client).add(target);
    // crane, skopeo and image-mirror try https before falling back to http: a TLS handshake goes through undelayed, so
    // that the plain-HTTP registry refuses it at once, as it would without the proxy; only HTTP requests wait.
    let delay: number | undefined;
    const later = (action: () => void) => (delay === 0 ? action() : setTimeout(action, delay));
    // Equal delays fire in the order they were set, so the byte stream keeps its order.
    client.on('data', (chunk: Buffer) => {
      delay ??= chunk[0] === TLS_HANDSHAKE ? 0 : delayMs;
      later(() => target.writable && target.write(chunk));
    });
    client.on('end', () => later(() => target.end()));
    // The registry's answer goes back at once; its end ends the client's side too.
    target.pipe(client);
    client.on('error', () => client.destroy());
    target.on('error', () => client.destroy());
    client.on('close', () => {
      target.destroy();
      sockets.delete(client);
    });
    target.on('close', () => sockets.delete(target));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
