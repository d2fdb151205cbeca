import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InterruptedError, PullLimitError, RateLimitedError, RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient, type HttpRegistryOptions, MAX_MANIFEST_BYTES, MAX_TOKEN_BYTES, parseChallenges, pullBudgetOf } from '../../../shared/registry/http-registry.ts';
import { REQUEST_RETRY } from '../../../shared/retry.ts';
import { type ScriptedAnswer, type ScriptedRegistry, type SeenRequest, startScriptedRegistry } from '../../support/upstreams/scripted-registry.ts';

type Answer = (url: URL, authorization: string | undefined, init: RequestInit) => Response | Promise<Response>;

// Answers a registry can send that a real docker-registry never does: served by a stand-in fetch.
function clientAnswering(answer: Answer, options: Partial<HttpRegistryOptions> = {}): HttpRegistryClient {
  const fetch = async (input: string | URL | Request, init: RequestInit = {}) =>
    answer(new URL(input instanceof Request ? input.url : input), new Headers(init.headers).get('authorization') ?? undefined, init);
  return new HttpRegistryClient({ credentials: new StaticCredentialProvider(), fetch: fetch as typeof globalThis.fetch, sleep: async () => {}, ...options });
}

const ref = parseImageReference('registry.example.com/team/app:1');

describe('HttpRegistryClient on answers it must not trust', () => {
  it('refuses an index whose child digest is not a digest, naming the request and the field', async () => {
    const body = JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: '--insecure', size: 1 }] });
    const client = clientAnswering(() => new Response(body, { headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } }));
    const error = await client.getManifest(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as Error).message).toBe('GET registry.example.com/team/app:1: the manifest is malformed: manifests.0.digest: not a digest');
  });

  it.each([
    ['a token of the wrong type', { token: 5 }],
    ['no token at all', { expires_in: 300 }],
  ])('says the token endpoint returned no token when it sends %s', async (_, tokenBody) => {
    const client = clientAnswering((url) =>
      url.pathname === '/token'
        ? Response.json(tokenBody)
        : new Response('{}', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token",service="registry.example.com"' } }),
    );
    await expect(client.headManifest(ref)).rejects.toThrow('HEAD https://registry.example.com/v2/team/app/manifests/1: the token endpoint https://auth.example.com/token returned no token');
  });

  it('uses a token whose lifetime is not a number, as if none was said', async () => {
    const client = clientAnswering((url, authorization) => {
      if (url.pathname === '/token') return Response.json({ access_token: 'abc', expires_in: 'soon' });
      if (authorization !== 'Bearer abc') return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' } });
      return new Response(null, { status: 200, headers: { 'docker-content-digest': `sha256:${'b'.repeat(64)}` } });
    });
    expect(await client.headManifest(ref)).toMatchObject({ digest: `sha256:${'b'.repeat(64)}` });
  });
});

describe('HttpRegistryClient logging in', () => {
  const challenge = { 'www-authenticate': 'Bearer realm="https://auth.example.com/token",service="registry.example.com"' };
  const digest = `sha256:${'c'.repeat(64)}`;

  it('refuses a Docker-Content-Digest that is not a digest, before it can reach crane', async () => {
    const client = clientAnswering(() => new Response(null, { status: 200, headers: { 'docker-content-digest': 'sha256:abc --insecure' } }));
    await expect(client.headManifest(ref)).rejects.toThrow('HEAD registry.example.com/team/app:1: the registry sent "sha256:abc --insecure" as Docker-Content-Digest, which is not a digest');
  });

  it('takes the OAuth2 access_token when token is null', async () => {
    const client = clientAnswering((url, authorization) => {
      if (url.pathname === '/token') return Response.json({ token: null, access_token: 'xyz' });
      return authorization === 'Bearer xyz' ? new Response(null, { headers: { 'docker-content-digest': digest } }) : new Response(null, { status: 401, headers: challenge });
    });
    expect(await client.headManifest(ref)).toMatchObject({ digest });
  });

  it('logs in twice at the most for one request, retries included, then reports the refusal', async () => {
    const seen = { registry: 0, token: 0 };
    const client = clientAnswering((url) => {
      if (url.pathname === '/token') {
        seen.token += 1;
        return Response.json({ token: `t${seen.token}` });
      }
      seen.registry += 1;
      // A registry that refuses every token, with a 503 now and then.
      return seen.registry % 3 === 0 ? new Response('{}', { status: 503, statusText: 'Service Unavailable' }) : new Response('{}', { status: 401, statusText: 'Unauthorized', headers: challenge });
    });
    await expect(client.headManifest(ref)).rejects.toThrow('HEAD https://registry.example.com/v2/team/app/manifests/1: 401 Unauthorized');
    expect(seen).toEqual({ registry: 4, token: 2 });
  });

  it('retries a token whose body was cut off, and honours the Retry-After of a refusing token endpoint', async () => {
    let tokens = 0;
    const cut = clientAnswering((url, authorization) => {
      if (url.pathname === '/token') {
        tokens += 1;
        if (tokens === 1) return new Response(new ReadableStream({ start: (controller) => controller.error(new Error('socket hang up')) }));
        return Response.json({ token: 'ok' });
      }
      return authorization === 'Bearer ok' ? new Response(null, { headers: { 'docker-content-digest': digest } }) : new Response(null, { status: 401, headers: challenge });
    });
    expect(await cut.headManifest(ref)).toMatchObject({ digest });
    expect(tokens).toBe(2);

    const limited = clientAnswering((url) =>
      url.pathname === '/token' ? new Response('{}', { status: 429, statusText: 'Too Many Requests', headers: { 'retry-after': '3600' } }) : new Response(null, { status: 401, headers: challenge }),
    );
    await expect(limited.headManifest(ref)).rejects.toThrow('fetching a token from https://auth.example.com/token: 429 Too Many Requests (after 1 attempt)');
  });
});

const CHUNK = 64 * 1024;

/** A body that never ends, one chunk per turn of the event loop, handed out only when read: `pulled` counts them. */
function endlessBody() {
  const seen = { pulled: 0, cancelled: false };
  const chunk = new Uint8Array(CHUNK).fill(0x20);
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        await new Promise((resolve) => setImmediate(resolve));
        seen.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
      cancel: () => void (seen.cancelled = true),
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

describe('HttpRegistryClient reading what a registry sends', () => {
  const challenge = { 'www-authenticate': 'Bearer realm="https://auth.example.com/token",service="registry.example.com"' };
  const cases = [
    {
      body: 'a manifest',
      cap: MAX_MANIFEST_BYTES,
      // The registry streams its manifest.
      answer: (url: URL, body: Response) => (url.pathname === '/token' ? Response.json({ token: 'unused' }) : body),
      call: (client: HttpRegistryClient) => client.getManifest(ref),
      requests: 1,
      message: 'GET https://registry.example.com/v2/team/app/manifests/1: the manifest is larger than 4 MiB, the most a registry accepts: not read',
    },
    {
      body: 'a token answer',
      cap: MAX_TOKEN_BYTES,
      // The registry asks for a token; its token endpoint streams.
      answer: (url: URL, body: Response) => (url.pathname === '/token' ? body : new Response(null, { status: 401, headers: challenge })),
      call: (client: HttpRegistryClient) => client.headManifest(ref),
      // The HEAD answered 401, then the token request.
      requests: 2,
      message:
        'HEAD https://registry.example.com/v2/team/app/manifests/1: fetching a token from https://auth.example.com/token: the token answer is larger than 1 MiB, far more than any token needs: not read',
    },
  ];

  it.each(cases)('stops reading $body that never ends just past its cap, and says so without retrying', async ({ cap, answer, call, requests: expected, message }) => {
    const endless = endlessBody();
    let requests = 0;
    const client = clientAnswering((url) => {
      requests += 1;
      return answer(url, new Response(endless.stream));
    });
    const error = await call(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect(error).toMatchObject({ message, retryable: false });
    expect(endless.seen.pulled).toBeLessThanOrEqual(cap + CHUNK);
    expect(endless.seen.cancelled).toBe(true);
    expect(requests).toBe(expected);
  });

  it.each(cases)('refuses $body whose Content-Length is over its cap without reading any of it', async ({ cap, answer, call, message }) => {
    const endless = endlessBody();
    const client = clientAnswering((url) => answer(url, new Response(endless.stream, { headers: { 'content-length': String(cap + 1) } })));
    await expect(call(client)).rejects.toThrow(message);
    expect(endless.seen.pulled).toBe(0);
    expect(endless.seen.cancelled).toBe(true);
  });

  const json = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { note: '#' } }));
  it.each([
    ['a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json])],
    ['an invalid UTF-8 byte', Buffer.from(json.toString('latin1').replace('#', '\xff'), 'latin1')],
  ])('takes the digest of the bytes received when they hold %s, and checks a pinned digest against it', async (_, bytes) => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const client = clientAnswering(() => new Response(bytes));
    expect(await client.getManifest(ref)).toMatchObject({ digest, json: { mediaType: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(await client.getManifest(parseImageReference(`registry.example.com/team/app@${digest}`))).toMatchObject({ digest });
  });
});

/** What a real fetch does with its signal: refuse to start once aborted, and give up the answer it waits for. */
function untilAborted(init: RequestInit, events: string[]): Promise<Response> {
  const signal = init.signal as AbortSignal;
  if (signal.aborted) return Promise.reject(signal.reason);
  events.push('request');
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

describe('HttpRegistryClient when the run is interrupted', () => {
  it('ends a request waiting for its answer, as interrupted and not to be retried', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const client = clientAnswering((_url, _authorization, init) => untilAborted(init, events), { signal: controller.signal });
    const failure = client.headManifest(ref).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    events.push('interrupt');
    controller.abort();
    const error = await failure;
    expect(error).toBeInstanceOf(InterruptedError);
    expect(error).toMatchObject({ message: 'HEAD https://registry.example.com/v2/team/app/manifests/1: interrupted', retryable: false });
    expect(events).toEqual(['request', 'interrupt']);
  });

  it('ends the wait before a retry (the default wait, 15 s asked by Retry-After) and sends nothing more', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const fetch = async (_input: string | URL | Request, init: RequestInit = {}) => {
      const signal = init.signal as AbortSignal;
      if (signal.aborted) throw signal.reason;
      events.push('request');
      // The interrupt comes once the 503 is answered, while the client waits to retry.
      setImmediate(() => {
        events.push('interrupt');
        controller.abort();
      });
      return new Response('{}', { status: 503, statusText: 'Service Unavailable', headers: { 'retry-after': '15' } });
    };
    const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(), fetch: fetch as typeof globalThis.fetch, signal: controller.signal });
    await expect(client.headManifest(ref)).rejects.toMatchObject({ message: 'HEAD https://registry.example.com/v2/team/app/manifests/1: interrupted', retryable: false });
    expect(events).toEqual(['request', 'interrupt']);
  });
});

describe('HttpRegistryClient with a registry that echoes credentials in its errors', () => {
  it('hides the password and the Basic value it sent', async () => {
    const login = { username: 'alice', password: 'hunter2-basic-pw' };
    const basic = Buffer.from('alice:hunter2-basic-pw').toString('base64');
    const client = clientAnswering(
      (_url, authorization) =>
        authorization === undefined
          ? new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } })
          : Response.json({ errors: [{ code: 'DENIED', message: `credential ${authorization.slice('Basic '.length)} (alice:hunter2-basic-pw) refused` }] }, { status: 403, statusText: 'Forbidden' }),
      { credentials: new StaticCredentialProvider(new Map([['registry.example.com', login]])) },
    );
    const error = (await client.headManifest(ref).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('HEAD https://registry.example.com/v2/team/app/manifests/1: 403 Forbidden (DENIED: credential *** (alice:***) refused)');
    expect(error.message).not.toContain(basic);
  });

  it('hides the Bearer token it was given and the login it got it with', async () => {
    const login = { username: 'bob', password: 'hunter2-bearer-pw' };
    const basic = Buffer.from('bob:hunter2-bearer-pw').toString('base64');
    const client = clientAnswering(
      (url, authorization) => {
        if (url.pathname === '/token') return Response.json({ token: 'tok-4f9a2c7e81d3' });
        if (authorization === undefined) return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' } });
        return Response.json({ errors: [{ code: 'DENIED', message: `token tok-4f9a2c7e81d3 of ${basic} refused` }] }, { status: 403, statusText: 'Forbidden' });
      },
      { credentials: new StaticCredentialProvider(new Map([['registry.example.com', login]])) },
    );
    await expect(client.headManifest(ref)).rejects.toThrow('HEAD https://registry.example.com/v2/team/app/manifests/1: 403 Forbidden (DENIED: token *** of *** refused)');
  });
});

// From here on the registries are loopback servers spoken to with the real fetch: redirects, repeated headers and
// what goes to which origin behave as they do in production.
const servers: ScriptedRegistry[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(script: (request: SeenRequest) => ScriptedAnswer, hostname: 'localhost' | '127.0.0.1' = '127.0.0.1'): Promise<ScriptedRegistry> {
  const server = await startScriptedRegistry(script, hostname);
  servers.push(server);
  return server;
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] }));
const digestOf = (bytes: Uint8Array | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const MANIFEST_DIGEST = digestOf(MANIFEST);

/** A registry's answer to a manifest HEAD or GET: the bytes, their digest and media type. */
const manifestAnswer = (bytes: Uint8Array = MANIFEST, headers: Record<string, string> = {}): ScriptedAnswer => ({
  headers: { 'content-type': MANIFEST_TYPE, 'docker-content-digest': digestOf(bytes), ...headers },
  body: bytes,
});
const json = (body: object, status = 200): ScriptedAnswer => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const unauthorized = (...challenges: string[]): ScriptedAnswer => ({ status: 401, headers: { 'www-authenticate': challenges, 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAUTHORIZED"}]}' });
const lines = (log: readonly SeenRequest[]) => log.map((request) => `${request.method} ${request.url.pathname}${request.authorization ? ` ${request.authorization}` : ''}`);

/** A client with no waits between attempts; `sleeps` holds the waits it asked for. */
function loopbackClient(options: Partial<HttpRegistryOptions> = {}) {
  const sleeps: number[] = [];
  const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(), sleep: async (ms) => void sleeps.push(ms), ...options });
  return { client, sleeps };
}

describe('HttpRegistryClient following redirects', () => {
  it('follows a 307 to another origin that asks for its own token, fetching the token there and keeping it for that origin', async () => {
    const backend = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: 'backend-token-1', expires_in: 300 });
      if (request.authorization !== 'Bearer backend-token-1') return unauthorized(`Bearer realm="${backend.origin}/token",service="backend"`);
      return manifestAnswer();
    }, 'localhost');
    const front = await serve((request) => ({ status: 307, headers: { location: `${backend.origin}${request.path}` } }));
    const { client } = loopbackClient();
    const ref = parseImageReference(`${front.host}/team/app:1`);

    expect(await client.headManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });
    expect(await client.getManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });

    expect(lines(front.log)).toEqual(['HEAD /v2/team/app/manifests/1', 'GET /v2/team/app/manifests/1']);
    expect(lines(backend.log)).toEqual([
      'HEAD /v2/team/app/manifests/1',
      'GET /token',
      'HEAD /v2/team/app/manifests/1 Bearer backend-token-1',
      'GET /v2/team/app/manifests/1 Bearer backend-token-1',
    ]);
    expect(backend.log[1]?.url.searchParams.get('scope')).toBe('repository:team/app:pull');
  });

  it("never sends the registry's credentials to another origin, and resolves a relative Location against the current URL", async () => {
    const login = { username: 'alice', password: 'front-only-password' };
    const basic = `Basic ${Buffer.from('alice:front-only-password').toString('base64')}`;
    const backend = await serve(() => manifestAnswer(), 'localhost');
    const front = await serve((request) => {
      if (request.authorization !== basic) return unauthorized('Basic realm="front"');
      // First a relative hop on the same origin, then the backend.
      if (!request.url.pathname.startsWith('/moved/')) return { status: 302, headers: { location: `../../../../moved${request.url.pathname}` } };
      return { status: 307, headers: { location: `${backend.origin}${request.url.pathname.slice('/moved'.length)}` } };
    });
    const { client } = loopbackClient({ credentials: new StaticCredentialProvider(new Map([[front.host, login]])) });

    expect(await client.headManifest(parseImageReference(`${front.host}/team/app:1`))).toMatchObject({ digest: MANIFEST_DIGEST });

    expect(lines(front.log)).toEqual(['HEAD /v2/team/app/manifests/1', `HEAD /v2/team/app/manifests/1 ${basic}`, `HEAD /moved/v2/team/app/manifests/1 ${basic}`]);
    expect(lines(backend.log)).toEqual(['HEAD /v2/team/app/manifests/1']);
  });

  it('answers a redirect backend anonymously, even one whose host we hold a login for, cached or not: a source never borrows it', async () => {
    // The backend is a host we hold a login for (our target, say); the source redirects there, and it asks for Basic.
    const login = { username: 'mirror', password: 'target-only-password' };
    const basic = `Basic ${Buffer.from('mirror:target-only-password').toString('base64')}`;
    const backend = await serve((request) => (request.authorization === basic ? manifestAnswer() : unauthorized('Basic realm="target"')), 'localhost');
    const front = await serve((request) => ({ status: 307, headers: { location: `${backend.origin}${request.url.pathname}` } }));
    const { client } = loopbackClient({ credentials: new StaticCredentialProvider(new Map([[backend.host, login]])) });
    // Our own request to the backend logs in and keeps the login for its origin.
    expect(await client.headManifest(parseImageReference(`${backend.host}/team/app:1`))).toMatchObject({ digest: MANIFEST_DIGEST });
    backend.log.splice(0);

    const error = await client.headManifest(parseImageReference(`${front.host}/secret/app:1`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as Error).message).toContain(`401 Unauthorized and ${backend.host}, where ${front.host} redirected, asks for a login, and none is ever lent to another origin`);
    expect(backend.log.map((request) => request.authorization)).toEqual([undefined]);
  });

  it('refuses a redirect from HTTPS to plain HTTP: what would be sent next would travel in clear', async () => {
    const seen: string[] = [];
    const client = clientAnswering((url) => {
      seen.push(url.href);
      return new Response(null, { status: 307, headers: { location: `http://registry.example.com${url.pathname}` } });
    });
    const error = await client.headManifest(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as Error).message).toBe('HEAD https://registry.example.com/v2/team/app/manifests/1: 307 redirect from HTTPS to plain HTTP (http://registry.example.com), not followed');
    expect(seen).toEqual(['https://registry.example.com/v2/team/app/manifests/1']);
  });

  it('gives up after 10 redirects, saying so, without retrying', async () => {
    const loop = await serve((request) => ({ status: 307, headers: { location: `${request.url.pathname}x` } }));
    const { client } = loopbackClient();
    const error = await client.headManifest(parseImageReference(`${loop.host}/team/app:1`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect(error).toMatchObject({
      message: `HEAD http://${loop.host}/v2/team/app/manifests/1 (redirected to http://${loop.host}/v2/team/app/manifests/1${'x'.repeat(10)}): more than 10 redirects`,
      retryable: false,
    });
    expect(loop.log).toHaveLength(11);
  });
});

describe('HttpRegistryClient choosing what to send', () => {
  it('fetches a push token for a PUT when the challenge names no scope, at the realm the HEAD was sent to, and never sends it the pull token', async () => {
    const tokens: Record<string, string> = { 'repository:team/app:pull': 'pull-token', 'repository:team/app:pull,push': 'push-token' };
    const registry = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: tokens[request.url.searchParams.getAll('scope').join(' ')] ?? 'no-such-scope' });
      const allowed = request.method === 'PUT' ? ['Bearer push-token'] : ['Bearer pull-token', 'Bearer push-token'];
      if (!allowed.includes(request.authorization ?? '')) return unauthorized(`Bearer realm="${registry.origin}/token",service="registry"`);
      return request.method === 'PUT' ? { status: 201, headers: { 'docker-content-digest': MANIFEST_DIGEST } } : manifestAnswer();
    });
    const { client } = loopbackClient();
    const ref = parseImageReference(`${registry.host}/team/app:1`);

    await client.headManifest(ref);
    expect(await client.putManifest(ref, MANIFEST.toString(), MANIFEST_TYPE)).toBe(MANIFEST_DIGEST);
    await client.putManifest(ref, MANIFEST.toString(), MANIFEST_TYPE);
    await client.headManifest(ref);

    expect(lines(registry.log)).toEqual([
      'HEAD /v2/team/app/manifests/1',
      'GET /token',
      'HEAD /v2/team/app/manifests/1 Bearer pull-token',
      // The realm is known from the HEAD's 401: the PUT gets its token first, and no 401.
      'GET /token',
      'PUT /v2/team/app/manifests/1 Bearer push-token',
      'PUT /v2/team/app/manifests/1 Bearer push-token',
      'HEAD /v2/team/app/manifests/1 Bearer pull-token',
    ]);
    expect(registry.log.filter((request) => request.url.pathname === '/token').map((request) => request.url.searchParams.getAll('scope'))).toEqual([
      ['repository:team/app:pull'],
      ['repository:team/app:pull,push'],
    ]);
  });

  it.each([
    ['Basic before Bearer in one header', (bearer: string) => [`Basic realm="registry", ${bearer}`]],
    ['a Negotiate header, then a Bearer one', (bearer: string) => ['Negotiate', bearer]],
    ['a Bearer header, then a Basic one whose realm holds a comma', (bearer: string) => [bearer, 'Basic realm="a, b"']],
  ])('answers %s with an anonymous token, its quoted parameters read whole', async (_, challenges) => {
    const registry = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: 'anonymous-token' });
      if (request.authorization === 'Bearer anonymous-token') return manifestAnswer();
      return unauthorized(...challenges(`Bearer realm="${registry.origin}/token",service="registry, \\"eu\\"",scope="repository:team/app:pull"`));
    });
    const { client } = loopbackClient();
    expect(await client.headManifest(parseImageReference(`${registry.host}/team/app:1`))).toMatchObject({ digest: MANIFEST_DIGEST });
    const tokenRequest = registry.log.find((request) => request.url.pathname === '/token');
    expect(tokenRequest?.url.searchParams.get('service')).toBe('registry, "eu"');
    expect(tokenRequest?.authorization).toBeUndefined();
  });

  it.each([
    ['Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"', [{ scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:team/app:pull,push' } }]],
    ['Basic realm="a, b", Bearer realm="https://auth.example.com/token"', [{ scheme: 'basic', params: { realm: 'a, b' } }, { scheme: 'bearer', params: { realm: 'https://auth.example.com/token' } }]],
    ['Negotiate, BEARER Realm = "r" , Service=s', [{ scheme: 'negotiate', params: {} }, { scheme: 'bearer', params: { realm: 'r', service: 's' } }]],
    ['Bearer realm="r",error_description="the \\"scope\\", or \\\\ not"', [{ scheme: 'bearer', params: { realm: 'r', error_description: 'the "scope", or \\ not' } }]],
    ['Negotiate YIIB==, Basic realm="x"', [{ scheme: 'negotiate', params: { yiib: '=' } }, { scheme: 'basic', params: { realm: 'x' } }]],
    ['Bearer realm="never closed', [{ scheme: 'bearer', params: { realm: '' } }, { scheme: 'never', params: {} }, { scheme: 'closed', params: {} }]],
    ['', []],
  ])('parses the challenges of %j', (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});

describe('HttpRegistryClient at the token endpoint', () => {
  it("retries the token endpoint's 503 and 429 under the retry policy, waiting as long as Retry-After asks", async () => {
    const answers: ScriptedAnswer[] = [json({}, 503), { ...json({}, 429), headers: { 'retry-after': '7' } }, json({ token: 'third-time' })];
    const registry = await serve((request) => {
      if (request.url.pathname === '/token') return answers.shift() ?? json({}, 500);
      return request.authorization === 'Bearer third-time' ? manifestAnswer() : unauthorized(`Bearer realm="${registry.origin}/token"`);
    });
    const { client, sleeps } = loopbackClient();
    expect(await client.headManifest(parseImageReference(`${registry.host}/team/app:1`))).toMatchObject({ digest: MANIFEST_DIGEST });
    expect(registry.log.filter((request) => request.url.pathname === '/token')).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[1]).toBeGreaterThanOrEqual(7_000);
  });

  it.each([
    ['a newline', 'secret-part-1\nsecret-part-2'],
    ['a space', 'secret-part-1 secret-part-2'],
    ['a character outside ASCII', 'secret-tökén-value'],
    ['more than 16384 characters', `secret-${'x'.repeat(16_384)}`],
  ])('refuses a token holding %s once, without showing it', async (_, token) => {
    const registry = await serve((request) => (request.url.pathname === '/token' ? json({ token }) : unauthorized(`Bearer realm="${registry.origin}/token"`)));
    const { client } = loopbackClient();
    const error = await client.headManifest(parseImageReference(`${registry.host}/team/app:1`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect(error).toMatchObject({
      message: `HEAD http://${registry.host}/v2/team/app/manifests/1: the token endpoint http://${registry.host}/token returned a token that cannot be sent: not printable ASCII without spaces, or longer than 16384 characters`,
      retryable: false,
    });
    expect((error as Error).message).not.toContain('secret');
    expect(lines(registry.log)).toEqual(['HEAD /v2/team/app/manifests/1', 'GET /token']);
  });
});

describe('HttpRegistryClient checking digests', () => {
  const text = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, annotations: { note: '#' } }));
  it.each([
    ['a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text])],
    ['an invalid UTF-8 byte', Buffer.from(text.toString('latin1').replace('#', '\xff'), 'latin1')],
  ])('takes the digest of the bytes a server sends when they hold %s, not of their decoded text', async (_, bytes) => {
    const registry = await serve(() => ({ headers: { 'content-type': MANIFEST_TYPE }, body: bytes }));
    const { client } = loopbackClient();
    const manifest = await client.getManifest(parseImageReference(`${registry.host}/team/app:1`));
    expect(manifest?.digest).toBe(digestOf(bytes));
    expect(manifest?.digest).not.toBe(digestOf(manifest?.body ?? ''));
    expect(await client.getManifest(parseImageReference(`${registry.host}/team/app@${digestOf(bytes)}`))).toMatchObject({ digest: digestOf(bytes) });
  });

  it('refuses a GET whose bytes are not those of the pinned digest, naming both', async () => {
    const pinned = digestOf('another manifest');
    const registry = await serve(() => manifestAnswer());
    const { client } = loopbackClient();
    await expect(client.getManifest(parseImageReference(`${registry.host}/team/app@${pinned}`))).rejects.toThrow(
      `GET ${registry.host}/team/app@${pinned}: the registry sent a manifest whose digest is ${MANIFEST_DIGEST}, not the pinned ${pinned}`,
    );
  });

  it('refuses a HEAD whose Docker-Content-Digest is not the pinned digest, naming both', async () => {
    const pinned = digestOf('another manifest');
    const registry = await serve(() => manifestAnswer());
    const { client } = loopbackClient();
    const error = await client.headManifest(parseImageReference(`${registry.host}/team/app:1@${pinned}`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as Error).message).toBe(`HEAD ${registry.host}/team/app:1@${pinned}: the registry sent Docker-Content-Digest ${MANIFEST_DIGEST}, not the pinned ${pinned}`);
  });
});

describe('HttpRegistryClient with a registry that answers no HEAD', () => {
  const budget = { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '192.0.2.1' };

  it.each([
    ['405 Method Not Allowed', { status: 405, headers: { allow: 'GET' } }],
    ['200 without Docker-Content-Digest', { headers: { 'content-type': MANIFEST_TYPE } }],
  ])('falls back to a GET, counted as a pull, after a HEAD answered %s (after a 405, asking that registry by GET from then on)', async (_, headAnswer: ScriptedAnswer) => {
    const noHead = await serve((request) => (request.method === 'HEAD' ? headAnswer : manifestAnswer(MANIFEST, budget)));
    const other = await serve(() => manifestAnswer());
    const { client } = loopbackClient();

    const expected = { digest: MANIFEST_DIGEST, mediaType: MANIFEST_TYPE, pullsSpent: 1, budget: { limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' } };
    expect(await client.headManifest(parseImageReference(`${noHead.host}/team/app:1`))).toEqual(expected);
    expect(await client.headManifest(parseImageReference(`${noHead.host}/team/other:2`))).toEqual(expected);
    expect(await client.headManifest(parseImageReference(`${other.host}/team/app:1`))).toEqual({ digest: MANIFEST_DIGEST, mediaType: MANIFEST_TYPE });

    // A 405 is the registry saying it has no HEAD: asked by GET from then on. A 200 without the header may be one odd
    // backend: HEAD is tried again the next time.
    const second = headAnswer.status === 405 ? [] : ['HEAD /v2/team/other/manifests/2'];
    expect(lines(noHead.log)).toEqual(['HEAD /v2/team/app/manifests/1', 'GET /v2/team/app/manifests/1', ...second, 'GET /v2/team/other/manifests/2']);
    expect(lines(other.log)).toEqual(['HEAD /v2/team/app/manifests/1']);
  });

  it('takes the pin as the digest of a pinned reference whose HEAD has no Docker-Content-Digest, spending no pull', async () => {
    const registry = await serve((request) => (request.method === 'HEAD' ? { headers: { 'content-type': MANIFEST_TYPE } } : manifestAnswer()));
    const { client } = loopbackClient();
    expect(await client.headManifest(parseImageReference(`${registry.host}/team/app@${MANIFEST_DIGEST}`))).toEqual({ digest: MANIFEST_DIGEST, mediaType: MANIFEST_TYPE });
    expect(lines(registry.log)).toEqual([`HEAD /v2/team/app/manifests/${MANIFEST_DIGEST}`]);
  });

  it('tells the pull budget a HEAD answer carries', async () => {
    const registry = await serve(() => manifestAnswer(MANIFEST, budget));
    const { client } = loopbackClient();
    expect(await client.headManifest(parseImageReference(`${registry.host}/team/app:1`))).toEqual({
      digest: MANIFEST_DIGEST,
      mediaType: MANIFEST_TYPE,
      budget: { limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' },
    });
  });
});

describe("HttpRegistryClient and Docker Hub's pull limit", () => {
  // https://docs.docker.com/docker-hub/usage/pulls/#view-pull-rate-and-limit
  const pullLimit = json({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limits' }] }, 429);

  it.each([
    ['a GET', (client: HttpRegistryClient, host: string) => client.getManifest(parseImageReference(`${host}/library/postgres:14`))],
    ['the GET that stands in for a refused HEAD', (client: HttpRegistryClient, host: string) => client.headManifest(parseImageReference(`${host}/library/postgres:14`))],
  ])('refuses %s answered 429 TOOMANYREQUESTS as the pull limit, never retried', async (_, call) => {
    const registry = await serve((request) => (request.method === 'HEAD' ? { status: 405 } : pullLimit));
    const { client, sleeps } = loopbackClient();
    const error = await call(client, registry.host).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PullLimitError);
    expect(error).toMatchObject({
      message: `GET http://${registry.host}/v2/library/postgres/manifests/14: 429 Too Many Requests (TOOMANYREQUESTS: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limits)`,
      retryable: false,
      status: 429,
    });
    expect(registry.log.filter((request) => request.method === 'GET')).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('retries a 429 TOOMANYREQUESTS that comes with no budget and not in Docker Hub\'s words: the spec\'s code for any throttling', async () => {
    const registry = await serve(() => ({ ...json({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }, 429), headers: { 'retry-after': '0' } }));
    const { client } = loopbackClient();
    const error = await client.getManifest(parseImageReference(`${registry.host}/library/postgres:14`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).not.toBeInstanceOf(PullLimitError);
    expect(registry.log).toHaveLength(4);
  });

  it('retries any other 429 as before', async () => {
    const registry = await serve(() => ({ ...json({ errors: [{ code: 'DENIED', message: 'slow down' }] }, 429), headers: { 'retry-after': '0' } }));
    const { client } = loopbackClient();
    const error = await client.getManifest(parseImageReference(`${registry.host}/library/postgres:14`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).not.toBeInstanceOf(PullLimitError);
    expect(error).toMatchObject({ retryable: true, message: `GET http://${registry.host}/v2/library/postgres/manifests/14: 429 Too Many Requests (DENIED: slow down) (after 4 attempts)` });
    expect(registry.log).toHaveLength(4);
  });

  it.each([
    [{ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '192.0.2.1' }, { limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' }],
    [{ 'ratelimit-limit': '200', 'ratelimit-remaining': '250' }, { limit: 200, remaining: 200, windowSeconds: 21_600 }],
    [{ 'ratelimit-limit': '100;w=21600' }, undefined],
    [{ 'ratelimit-limit': 'many', 'ratelimit-remaining': '1' }, undefined],
  ])('reads the pull budget of %j', (headers, expected) => {
    expect(pullBudgetOf(new Headers(headers))).toEqual(expected);
  });
});

/** A fetch that notes each URL it is asked for before sending it with the real fetch. */
function recordingFetch(urls: string[]): typeof globalThis.fetch {
  return ((input: string | URL | Request, init?: RequestInit) => {
    urls.push(String(input));
    return globalThis.fetch(input, init);
  }) as typeof globalThis.fetch;
}

describe('HttpRegistryClient wired from outside', () => {
  it("sends every request, each redirect hop and the token's, through the fetch it was given", async () => {
    const backend = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: 'backend-token' });
      return request.authorization === 'Bearer backend-token' ? manifestAnswer() : unauthorized(`Bearer realm="${backend.origin}/token"`);
    }, 'localhost');
    const front = await serve((request) => ({ status: 307, headers: { location: `${backend.origin}${request.path}` } }));
    const fetched: string[] = [];
    const { client } = loopbackClient({ fetch: recordingFetch(fetched) });
    expect(await client.headManifest(parseImageReference(`${front.host}/team/app:1`))).toMatchObject({ digest: MANIFEST_DIGEST });
    expect(fetched.map((url) => new URL(url).origin + new URL(url).pathname)).toEqual([
      `${front.origin}/v2/team/app/manifests/1`,
      `${backend.origin}/v2/team/app/manifests/1`,
      `${backend.origin}/token`,
      // The login answers the hop that asked for it: that hop is sent again, not the whole chain.
      `${backend.origin}/v2/team/app/manifests/1`,
    ]);
  });
});

/** A port on 127.0.0.1 that nothing listens on (for now). */
async function closedPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('HttpRegistryClient finding the scheme where crane may use plain HTTP (httpsFirst)', () => {
  it.each(['127.0.0.1', 'localhost'] as const)('tries HTTPS at %s, sends the same request over plain HTTP when the server speaks it, and keeps to plain HTTP', async (hostname) => {
    const registry = await serve(() => manifestAnswer(), hostname);
    const urls: string[] = [];
    const { client } = loopbackClient({ httpsFirst: true, fetch: recordingFetch(urls) });
    const ref = parseImageReference(`${registry.host}/team/app:1`);
    expect(await client.headManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });
    expect(await client.getManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });
    const manifest = `${registry.host}/v2/team/app/manifests/1`;
    expect(urls).toEqual([`https://${manifest}`, `http://${manifest}`, `http://${manifest}`]);
    // The TLS hello the server could not read is no request: no GET /v2/ either.
    expect(lines(registry.log)).toEqual(['HEAD /v2/team/app/manifests/1', 'GET /v2/team/app/manifests/1']);
  });

  it('lets one request find the scheme while those that start with it wait', async () => {
    const registry = await serve(() => manifestAnswer());
    const urls: string[] = [];
    const { client } = loopbackClient({ httpsFirst: true, fetch: recordingFetch(urls) });
    await Promise.all(['a', 'b', 'c'].map((name) => client.headManifest(parseImageReference(`${registry.host}/team/${name}:1`))));
    expect(urls.filter((url) => url.startsWith('https:'))).toHaveLength(1);
    expect(urls.filter((url) => url.startsWith('http:')).sort()).toEqual(['a', 'b', 'c'].map((name) => `http://${registry.host}/v2/team/${name}/manifests/1`));
  });

  it('sends a public host, and Docker Hub, over HTTPS only', async () => {
    const urls: string[] = [];
    const fetch = (async (input: string | URL | Request) => {
      urls.push(String(input));
      return new Response(null, { headers: { 'docker-content-digest': MANIFEST_DIGEST } });
    }) as typeof globalThis.fetch;
    const client = new HttpRegistryClient({ credentials: new StaticCredentialProvider(), fetch, httpsFirst: true });
    await client.headManifest(parseImageReference('quay.io/team/app:1'));
    await client.headManifest(parseImageReference('team/app:1'));
    expect(urls).toEqual(['https://quay.io/v2/team/app/manifests/1', 'https://registry-1.docker.io/v2/team/app/manifests/1']);
  });

  it('tries plain HTTP when HTTPS gets no answer, keeps nothing when neither answers, telling HTTPS\'s failure, and finds the scheme once the registry is back', async () => {
    const port = await closedPort();
    const host = `127.0.0.1:${port}`;
    const urls: string[] = [];
    const { client } = loopbackClient({ httpsFirst: true, fetch: recordingFetch(urls), retry: { ...REQUEST_RETRY, attempts: 2 } });
    const ref = parseImageReference(`${host}/team/app:1`);
    await expect(client.headManifest(ref)).rejects.toThrow(`HEAD https://${host}/v2/team/app/manifests/1: fetch failed: connect ECONNREFUSED ${host} (after 2 attempts)`);
    const server = createHttpServer((_req, res) => res.writeHead(200, { 'docker-content-digest': MANIFEST_DIGEST }).end());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await client.headManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });
      expect(await client.headManifest(ref)).toMatchObject({ digest: MANIFEST_DIGEST });
      expect(urls.map((url) => url.split(':')[0])).toEqual(['https', 'http', 'https', 'http', 'https', 'http', 'http']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('goes on to plain HTTP, and keeps it, after a TLS handshake that the server never answers', async () => {
    // A plain-HTTP server that waits for the end of a request line the ClientHello never sends.
    const sockets = new Set<Socket>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('data', (chunk) => {
        if (chunk[0] !== 0x16) socket.end(`HTTP/1.1 200 OK\r\ndocker-content-digest: ${MANIFEST_DIGEST}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const urls: string[] = [];
      const { client } = loopbackClient({ httpsFirst: true, fetch: recordingFetch(urls), timeoutMs: 200 });
      for (const name of ['a', 'b']) expect(await client.headManifest(parseImageReference(`${host}/team/${name}:1`))).toMatchObject({ digest: MANIFEST_DIGEST });
      expect(urls).toEqual([`https://${host}/v2/team/a/manifests/1`, `http://${host}/v2/team/a/manifests/1`, `http://${host}/v2/team/b/manifests/1`]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('HttpRegistryClient logging in for many requests at once', () => {
  const refs = (host: string, names: readonly string[]) => names.map((name) => parseImageReference(`${host}/team/${name}:1`));

  it('lets one request meet the Basic challenge while the others wait, then sends them all with the credentials: one 401, not one each', async () => {
    const login = { username: 'alice', password: 'many-at-once-pw' };
    const basic = `Basic ${Buffer.from('alice:many-at-once-pw').toString('base64')}`;
    const registry = await serve((request) => (request.authorization === basic ? manifestAnswer() : unauthorized('Basic realm="registry"')));
    const { client } = loopbackClient({ credentials: new StaticCredentialProvider(new Map([[registry.host, login]])) });
    const names = ['a', 'b', 'c', 'd', 'e'];
    await Promise.all(refs(registry.host, names).map((ref) => client.headManifest(ref)));
    expect(registry.log.filter((request) => request.authorization === undefined)).toHaveLength(1);
    expect(registry.log.filter((request) => request.authorization === basic).map((request) => request.url.pathname).sort()).toEqual(names.map((name) => `/v2/team/${name}/manifests/1`));
  });

  it('meets a Bearer challenge once, then fetches each repository its own token from that realm, with the credentials', async () => {
    const login = { username: 'bob', password: 'bearer-many-pw' };
    const basic = `Basic ${Buffer.from('bob:bearer-many-pw').toString('base64')}`;
    const registry = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: `token-for-${request.url.searchParams.get('scope')?.split(':')[1]?.replace('/', '-')}` });
      const repository = request.url.pathname.split('/manifests/')[0]?.slice('/v2/'.length).replace('/', '-');
      return request.authorization === `Bearer token-for-${repository}` ? manifestAnswer() : unauthorized(`Bearer realm="${registry.origin}/token",service="registry"`);
    });
    const { client } = loopbackClient({ credentials: new StaticCredentialProvider(new Map([[registry.host, login]])) });
    const names = ['a', 'b', 'c'];
    await Promise.all(refs(registry.host, names).map((ref) => client.headManifest(ref)));
    expect(registry.log.filter((request) => request.authorization === undefined && request.url.pathname !== '/token')).toHaveLength(1);
    const tokenRequests = registry.log.filter((request) => request.url.pathname === '/token');
    expect(tokenRequests.map((request) => request.url.searchParams.getAll('scope')).sort()).toEqual(names.map((name) => [`repository:team/${name}:pull`]));
    expect(tokenRequests.every((request) => request.authorization === basic && request.url.searchParams.get('service') === 'registry')).toBe(true);
  });

  it('holds nothing back at a registry it has no credentials for: anonymous lookups all go at once', async () => {
    const started: string[] = [];
    let answer = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const client = clientAnswering(async (url) => {
      started.push(url.pathname);
      await answered;
      return new Response(null, { headers: { 'docker-content-digest': MANIFEST_DIGEST } });
    });
    const lookups = Promise.all(['a', 'b', 'c'].map((name) => client.headManifest(parseImageReference(`registry.example.com/team/${name}:1`))));
    for (let turn = 0; turn < 20 && started.length < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(started).toHaveLength(3);
    answer();
    expect(await lookups).toHaveLength(3);
  });

  it('asks the realm it already knows for a token for a new repository, anonymously, with no 401 first', async () => {
    const registry = await serve((request) => {
      if (request.url.pathname === '/token') return json({ token: `anonymous-${request.url.searchParams.get('scope')?.split(':')[1]?.replace('/', '-')}` });
      const repository = request.url.pathname.split('/manifests/')[0]?.slice('/v2/'.length) ?? '';
      const allowed = `Bearer anonymous-${repository.replace('/', '-')}`;
      return request.authorization === allowed ? manifestAnswer() : unauthorized(`Bearer realm="${registry.origin}/token",service="registry",scope="repository:${repository}:pull"`);
    });
    const { client } = loopbackClient();
    for (const ref of refs(registry.host, ['a', 'b'])) await client.headManifest(ref);
    expect(lines(registry.log)).toEqual([
      'HEAD /v2/team/a/manifests/1',
      'GET /token',
      'HEAD /v2/team/a/manifests/1 Bearer anonymous-team-a',
      'GET /token',
      'HEAD /v2/team/b/manifests/1 Bearer anonymous-team-b',
    ]);
    expect(registry.log.filter((request) => request.url.pathname === '/token').map((request) => request.url.searchParams.getAll('scope'))).toEqual([['repository:team/a:pull'], ['repository:team/b:pull']]);
  });
});
