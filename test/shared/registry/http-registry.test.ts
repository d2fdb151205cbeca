import { describe, expect, it } from 'vitest';
import { RegistryRequestError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../../shared/registry/http-registry.ts';

// Answers a registry can send that a real docker-registry never does: served by a stand-in fetch.
function clientAnswering(answer: (url: URL, authorization: string | undefined) => Response): HttpRegistryClient {
  const fetch = async (input: string | URL | Request, init?: RequestInit) =>
    answer(new URL(input instanceof Request ? input.url : input), new Headers(init?.headers).get('authorization') ?? undefined);
  return new HttpRegistryClient({ credentials: new StaticCredentialProvider(), fetch: fetch as typeof globalThis.fetch, sleep: async () => {} });
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
