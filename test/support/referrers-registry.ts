// A registry that serves the OCI 1.1 referrers API, for the stack tests: a loopback proxy in front of one of the
// stack's docker-registry instances (distribution 2.8, which stores a manifest's `subject` but answers
// `GET /v2/<name>/referrers/<digest>` with 404), as ECR and other OCI 1.1 registries do. It implements "Listing
// Referrers" of https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#listing-referrers:
//   - `GET /v2/<name>/referrers/<digest>` answers 200 with an OCI image index (never 404) whose descriptors carry each
//     referrer's `artifactType` (the manifest's, else its config's media type) and `annotations`;
//   - `?artifactType=<type>` filters it, and the answer then carries `OCI-Filters-Applied: artifactType`;
//   - a manifest PUT whose body has a `subject` is remembered as a referrer of that digest, and answered with the
//     `OCI-Subject` header (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#pushing-manifests-with-subject).
// Only referrers pushed through the proxy are known. Everything else passes through, as in fault-proxy.ts.
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A referrer as the API lists it. */
interface Referrer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

export interface ReferrersRegistry {
  /** `127.0.0.1:port`, usable as a registry host. */
  readonly host: string;
  /** Every request seen, in order: method, path and the status answered. */
  readonly log: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/([^/]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/** Starts the proxy in front of `upstream` (`host:port` of a plain-HTTP registry). */
export async function startReferrersRegistry(upstream: string): Promise<ReferrersRegistry> {
  // Referrers by `<name>@<subject digest>`, by their own digest (a manifest pushed again replaces itself).
  const referrers = new Map<string, Map<string, Referrer>>();
  const log: ReferrersRegistry['log'] = [];
  let host = '';

  /** Sends a request upstream (the Host header kept, so that upload locations point back here) and returns the answer. */
  const forward = (req: IncomingMessage, body: Buffer | undefined, path = req.url ?? '/'): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const method = body === undefined && path !== req.url ? 'GET' : req.method;
      const up = httpRequest(`http://${upstream}${path}`, { method, headers: path === req.url ? req.headers : { ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), host: req.headers.host ?? host } }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | string[] | undefined>, body: Buffer | string = '') => {
    log.push({ method: req.method ?? '', path: req.url ?? '', status });
    res.writeHead(status, headers).end(body);
  };

  const listReferrers = async (req: IncomingMessage, res: ServerResponse, name: string, digest: string, url: URL) => {
    // The registry's own auth decides: the same credentials must open its API root.
    const check = await forward(req, undefined, '/v2/');
    if (check.status === 401) return answer(req, res, 401, { 'www-authenticate': check.headers['www-authenticate'], 'content-type': 'application/json' }, check.body);
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) return answer(req, res, 400, { 'content-type': 'application/json' }, '{"errors":[{"code":"DIGEST_INVALID"}]}');
    const wanted = url.searchParams.get('artifactType');
    const all = [...(referrers.get(`${name}@${digest}`)?.values() ?? [])];
    const manifests = wanted === null ? all : all.filter((referrer) => referrer.artifactType === wanted);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    return answer(req, res, 200, { 'content-type': OCI_INDEX, ...(wanted === null ? {} : { 'oci-filters-applied': 'artifactType' }) }, body);
  };

  const putManifest = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const upstreamAnswer = await forward(req, body);
    const headers: Record<string, string | string[] | undefined> = { ...upstreamAnswer.headers };
    const parsed = parse(body);
    if (upstreamAnswer.status === 201 && parsed?.subject?.digest !== undefined) {
      const digest = (upstreamAnswer.headers['docker-content-digest'] as string | undefined) ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
      const key = `${name}@${parsed.subject.digest}`;
      const known = referrers.get(key) ?? new Map<string, Referrer>();
      known.set(digest, {
        mediaType: parsed.mediaType ?? req.headers['content-type'] ?? '',
        digest,
        size: body.length,
        ...(artifactType === undefined ? {} : { artifactType }),
        ...(parsed.annotations === undefined ? {} : { annotations: parsed.annotations }),
      });
      referrers.set(key, known);
      headers['oci-subject'] = parsed.subject.digest;
    }
    return answer(req, res, upstreamAnswer.status, headers, upstreamAnswer.body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    const listing = REFERRERS_PATH.exec(url.pathname);
    const manifest = MANIFEST_PATH.exec(url.pathname);
    const handled =
      listing !== null && req.method === 'GET'
        ? listReferrers(req, res, listing[1] as string, listing[2] as string, url)
        : manifest !== null && req.method === 'PUT'
          ? putManifest(req, res, manifest[1] as string)
          : undefined;
    if (handled !== undefined) {
      handled.catch(() => answer(req, res, 502, {}));
      return;
    }
    const up = httpRequest(`http://${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answered) => {
      log.push({ method: req.method ?? '', path: req.url ?? '', status: answered.statusCode ?? 0 });
      res.writeHead(answered.statusCode ?? 502, answered.headers);
      answered.pipe(res);
    });
    up.on('error', () => answer(req, res, 502, {}));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    log,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The fields of a manifest the API lists, or undefined for a body that is not a JSON object. */
function parse(body: Buffer): { mediaType?: string; artifactType?: string; config?: { mediaType?: string }; subject?: { digest?: string }; annotations?: Record<string, string> } | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as ReturnType<typeof parse>) : undefined;
  } catch {
    return undefined;
  }
}
