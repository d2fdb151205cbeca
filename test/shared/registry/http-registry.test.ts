import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InterruptedError, RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient, type HttpRegistryOptions, MAX_MANIFEST_BYTES, MAX_TOKEN_BYTES } from '../../../shared/registry/http-registry.ts';

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
