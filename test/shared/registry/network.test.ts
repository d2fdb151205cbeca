import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.ts';
import { createRegistryNetwork, DOCKER_HUB_API, type Env, proxyFor, readProxySettings, registryScheme, type RegistryNetwork } from '../../../shared/registry/network.ts';
import { type ConnectProxy, startConnectProxy } from '../../support/connect-proxy.ts';

describe('registryScheme (go-containerregistry v0.14.0 name.Registry.Scheme)', () => {
  it.each([
    ['localhost:5000', 'http'],
    ['localhost', 'https'],
    ['127.0.0.1', 'http'],
    ['127.0.0.1:5000', 'http'],
    ['127.0.0.2:5000', 'https'],
    ['[::1]:5000', 'http'],
    ['registry.local', 'http'],
    ['registry.local:5000', 'http'],
    ['registry.localhost:5000', 'http'],
    ['registry.localdomain', 'https'],
    ['10.1.2.3:5000', 'http'],
    ['172.16.0.1', 'http'],
    ['172.31.255.255:443', 'http'],
    ['172.32.0.1', 'https'],
    ['192.168.1.10:5000', 'http'],
    ['192.169.1.10', 'https'],
    ['8.8.8.8', 'https'],
    ['docker.io', 'https'],
    ['quay.io', 'https'],
    ['registry.example.com:5000', 'https'],
    // v0.14 matched "127.0.0.1" anywhere in the name; later releases, and we, only the address itself.
    ['127.0.0.1.example.com', 'https'],
  ])('%s: %s', (registry, scheme) => {
    expect(registryScheme(registry)).toBe(scheme);
  });
});

describe('proxyFor (Go net/http, golang.org/x/net/http/httpproxy)', () => {
  const proxied = (env: Env, url: string) => proxyFor(new URL(url), readProxySettings(env))?.href;

  it('takes HTTPS_PROXY for https and HTTP_PROXY for http, never one for the other', () => {
    const env = { HTTPS_PROXY: 'http://secure.proxy:3128', HTTP_PROXY: 'http://plain.proxy:3128' };
    expect(proxied(env, 'https://quay.io/v2/')).toBe('http://secure.proxy:3128/');
    expect(proxied(env, 'http://quay.io/v2/')).toBe('http://plain.proxy:3128/');
    expect(proxied({ HTTP_PROXY: 'http://plain.proxy:3128' }, 'https://quay.io/v2/')).toBeUndefined();
    expect(proxied({ HTTPS_PROXY: 'http://secure.proxy:3128' }, 'http://quay.io/v2/')).toBeUndefined();
  });

  it('reads the upper-case name first, an empty value as unset, and a bare host:port as http', () => {
    expect(proxied({ HTTPS_PROXY: 'upper.proxy:1', https_proxy: 'http://lower.proxy:2' }, 'https://quay.io/')).toBe('http://upper.proxy:1/');
    expect(proxied({ HTTPS_PROXY: '', https_proxy: 'http://lower.proxy:2' }, 'https://quay.io/')).toBe('http://lower.proxy:2/');
    expect(proxied({ https_proxy: 'https://tls.proxy' }, 'https://quay.io/')).toBe('https://tls.proxy/');
  });

  it.each([
    ['localhost', 'https://localhost:5000/v2/'],
    ['a loopback address', 'https://127.0.0.5:5000/v2/'],
    ['the IPv6 loopback', 'https://[::1]:5000/v2/'],
  ])('never proxies %s, whatever NO_PROXY says', (_, url) => {
    expect(proxied({ HTTPS_PROXY: 'http://proxy:3128' }, url)).toBeUndefined();
  });

  it.each([
    ['*', 'https://quay.io/', undefined],
    ['quay.io', 'https://quay.io/', undefined],
    ['quay.io', 'https://cdn.quay.io/', undefined],
    ['quay.io', 'https://notquay.io/', 'proxied'],
    ['.quay.io', 'https://quay.io/', 'proxied'],
    ['.quay.io', 'https://cdn.quay.io/', undefined],
    ['*.quay.io', 'https://cdn.quay.io/', undefined],
    ['quay.io:443', 'https://quay.io/', undefined],
    ['quay.io:8443', 'https://quay.io/', 'proxied'],
    ['10.0.0.0/8', 'https://10.20.30.40:5000/', undefined],
    ['10.0.0.0/8', 'https://11.0.0.1:5000/', 'proxied'],
    ['192.168.1.7', 'https://192.168.1.7/', undefined],
    ['192.168.1.7:5000', 'https://192.168.1.7/', 'proxied'],
    [' Example.COM , ghcr.io ', 'https://ghcr.io/', undefined],
    ['fd00::/8', 'https://[fd00::1]/', undefined],
  ])('NO_PROXY=%j, %s: %s', (noProxy, url, expected) => {
    expect(proxied({ HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy }, url) === undefined ? undefined : 'proxied').toBe(expected);
  });

  it('refuses a proxy it cannot use, naming the variable, all at once', () => {
    const read = () => readProxySettings({ HTTPS_PROXY: 'socks5://proxy:1080', http_proxy: 'http://[bad' });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow('HTTPS_PROXY: socks5 proxies are not supported, only http:// and https:// ones');
    expect(read).toThrow('http_proxy is not a proxy URL');
  });
});

describe('createRegistryNetwork reading CA files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-mirror-network-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('names every variable whose file cannot be used, at once', async () => {
    const empty = join(dir, 'empty.pem');
    await writeFile(empty, 'not a certificate\n', { mode: 0o600 });
    const build = () => createRegistryNetwork({ SSL_CERT_FILE: join(dir, 'missing.pem'), SSL_CERT_DIR: join(dir, 'no-such-dir'), HTTPS_PROXY: 'socks5://proxy:1080' });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(`SSL_CERT_FILE names "${join(dir, 'missing.pem')}", which cannot be read (ENOENT)`);
    expect(build).toThrow(`SSL_CERT_DIR names "${join(dir, 'no-such-dir')}", which cannot be read (ENOENT)`);
    expect(build).toThrow('HTTPS_PROXY: socks5 proxies are not supported');
    expect(() => createRegistryNetwork({ SSL_CERT_FILE: empty })).toThrow(`SSL_CERT_FILE names "${empty}", which holds no PEM certificate`);
  });

  it('passes over an unreadable NODE_EXTRA_CA_CERTS, as Node does', async () => {
    await createRegistryNetwork({ SSL_CERT_DIR: dir, NODE_EXTRA_CA_CERTS: join(dir, 'missing.pem') }).close();
  });

  it('builds with no variable set, and with empty ones', async () => {
    await createRegistryNetwork({}).close();
    await createRegistryNetwork({ SSL_CERT_FILE: '', SSL_CERT_DIR: '', HTTPS_PROXY: '' }).close();
  });
});

/** A plain-HTTP server on 127.0.0.1 answering `/v2/` with `status()`, counting the requests. */
async function plainRegistry(status: () => number): Promise<{ server: Server; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(status(), { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

describe('baseUrl', () => {
  const opened: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of opened.splice(0)) await item.close();
  });
  const network = (env: Env = {}): RegistryNetwork => {
    const built = createRegistryNetwork(env, { probeTimeoutMs: 5_000 });
    opened.push(built);
    return built;
  };
  const serve = async (status: () => number) => {
    const registry = await plainRegistry(status);
    opened.push({ close: () => new Promise((resolve) => registry.server.close(resolve)) });
    return registry;
  };

  it('sends Docker Hub to its API host and every other public host to HTTPS, with no probe', async () => {
    const { baseUrl } = network();
    expect(await baseUrl('docker.io')).toBe(DOCKER_HUB_API);
    expect(await baseUrl('quay.io')).toBe('https://quay.io');
    expect(await baseUrl('registry.example.invalid:5000')).toBe('https://registry.example.invalid:5000');
  });

  it('falls back to plain HTTP where crane may, after HTTPS, and keeps the answer', async () => {
    let status = 401;
    const registry = await serve(() => status);
    const { baseUrl } = network();
    expect(await baseUrl(`127.0.0.1:${registry.port}`)).toBe(`http://127.0.0.1:${registry.port}`);
    expect(await baseUrl(`localhost:${registry.port}`)).toBe(`http://localhost:${registry.port}`);
    status = 500;
    expect(await baseUrl(`127.0.0.1:${registry.port}`)).toBe(`http://127.0.0.1:${registry.port}`);
    // One GET /v2/ per host name: the TLS hello the server could not read is no request.
    expect(registry.requests).toEqual(['GET /v2/', 'GET /v2/']);
  });

  it('asks again next time when the plain-HTTP answer was not a registry', async () => {
    let status = 503;
    const registry = await serve(() => status);
    const { baseUrl } = network();
    expect(await baseUrl(`127.0.0.1:${registry.port}`)).toBe(`http://127.0.0.1:${registry.port}`);
    status = 200;
    expect(await baseUrl(`127.0.0.1:${registry.port}`)).toBe(`http://127.0.0.1:${registry.port}`);
    expect(registry.requests).toEqual(['GET /v2/', 'GET /v2/']);
  });

  it('uses HTTPS when nothing answers, and asks again next time', async () => {
    const registry = await serve(() => 200);
    await new Promise((resolve) => registry.server.close(resolve));
    const host = `127.0.0.1:${registry.port}`;
    const { baseUrl } = network();
    expect(await baseUrl(host)).toBe(`https://${host}`);
    await new Promise<void>((resolve) => registry.server.listen(registry.port, '127.0.0.1', resolve));
    expect(await baseUrl(host)).toBe(`http://${host}`);
  });

  it('shares one probe between requests that start together', async () => {
    const registry = await serve(() => 200);
    const { baseUrl } = network();
    const host = `127.0.0.1:${registry.port}`;
    expect(await Promise.all([baseUrl(host), baseUrl(host), baseUrl(host)])).toEqual(Array(3).fill(`http://${host}`));
    expect(registry.requests).toEqual(['GET /v2/']);
  });
});

describe('fetch through the environment proxy', () => {
  let proxy: ConnectProxy;
  let registry: Awaited<ReturnType<typeof plainRegistry>>;
  const opened: RegistryNetwork[] = [];
  beforeAll(async () => {
    registry = await plainRegistry(() => 200);
    proxy = await startConnectProxy({ hosts: { 'registry.proxy.test': '127.0.0.1' } });
  });
  afterAll(async () => {
    await Promise.all(opened.map((network) => network.close()));
    await proxy.close();
    await new Promise((resolve) => registry.server.close(resolve));
  });
  const network = (env: Env) => {
    const built = createRegistryNetwork(env);
    opened.push(built);
    return built;
  };

  it('sends plain-HTTP requests to HTTP_PROXY in absolute form, reaching a name only the proxy resolves', async () => {
    const url = `http://registry.proxy.test:${registry.port}/v2/`;
    const response = await network({ HTTP_PROXY: proxy.url }).fetch(url);
    expect(response.status).toBe(200);
    await response.body?.cancel();
    expect(proxy.forwarded).toContainEqual({ method: 'GET', url, status: 200 });
  });

  it('goes direct to loopback and to NO_PROXY hosts, as Go does', async () => {
    const before = proxy.forwarded.length + proxy.tunnels.length;
    const direct = await network({ HTTP_PROXY: proxy.url }).fetch(`http://127.0.0.1:${registry.port}/v2/`);
    expect(direct.status).toBe(200);
    await direct.body?.cancel();
    // Not through the proxy, so the made-up name does not resolve at all.
    await expect(network({ HTTP_PROXY: proxy.url, NO_PROXY: 'proxy.test' }).fetch(`http://registry.proxy.test:${registry.port}/v2/`)).rejects.toThrow('fetch failed');
    expect(proxy.forwarded.length + proxy.tunnels.length).toBe(before);
  });

  it('opens a CONNECT tunnel for HTTPS, naming itself to the proxy', async () => {
    // The server speaks no TLS: the tunnel opens, the handshake inside it fails.
    await expect(network({ HTTPS_PROXY: proxy.url }).fetch(`https://registry.proxy.test:${registry.port}/v2/`)).rejects.toThrow('fetch failed');
    expect(proxy.tunnels).toContainEqual({ authority: `registry.proxy.test:${registry.port}`, userAgent: 'image-mirror', opened: true });
  });
});
