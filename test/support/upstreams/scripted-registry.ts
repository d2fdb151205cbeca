import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback HTTP server whose every answer a test writes: for what registries do that a real docker-registry never
// does (refuse HEAD with 405, send several challenges, redirect, hand out tokens that cannot be sent, answer 429 with
// Docker Hub's pull-limit body), spoken to over real sockets with the real fetch, so that repeated headers and
// redirects behave as they do in production. The protocol these answers vary: the OCI distribution spec,
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md, and its token flow,
// https://distribution.github.io/distribution/spec/auth/token/.

/** One request as the server saw it. */
export interface SeenRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  readonly url: URL;
  readonly authorization?: string;
}

/** What the server answers: 200 and no body unless said. */
export interface ScriptedAnswer {
  readonly status?: number;
  /** A header given as an array is sent as that many header lines (two WWW-Authenticate headers, say). */
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Uint8Array;
}

/** A running server. */
export interface ScriptedRegistry {
  /** `hostname:port`, usable as a registry host. */
  readonly host: string;
  /** `http://hostname:port`. */
  readonly origin: string;
  /** Every request, in order. */
  readonly log: SeenRequest[];
  close(): Promise<void>;
}

/**
 * Starts a server answering with `script`. `hostname` is the name it goes by: `localhost` and `127.0.0.1` are the same
 * loopback address but different origins, as a registry and the backend it redirects to are.
 */
export async function startScriptedRegistry(script: (request: SeenRequest) => ScriptedAnswer, hostname: 'localhost' | '127.0.0.1' = '127.0.0.1'): Promise<ScriptedRegistry> {
  const log: SeenRequest[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '/',
      url: new URL(req.url ?? '/', origin),
      ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }),
    };
    log.push(seen);
    const answer = script(seen);
    const body = answer.body === undefined ? undefined : Buffer.from(answer.body);
    res.writeHead(answer.status ?? 200, { ...(body === undefined ? {} : { 'content-length': body.length }), ...answer.headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `${hostname}:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
  return {
    host,
    origin,
    log,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
