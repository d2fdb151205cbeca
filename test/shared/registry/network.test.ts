import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, rootCertificates } from 'node:tls';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../shared/errors.ts';
import { createRegistryNetwork, type Env, isCertificateRejection, proxyFor, readProxySettings, registryScheme, type RegistryNetwork, speaksPlainHttp } from '../../../shared/registry/network.ts';
import { type ConnectProxy, startConnectProxy } from '../../support/connect-proxy.ts';

// Spies on what the network must only load when a request needs it: a TLS context of the environment's CA certificates,
// and undici.
vi.mock('node:tls', async (importOriginal) => {
  const tls = await importOriginal<typeof import('node:tls')>();
  // getCACertificates is absent before Node 22.15: said so, as the real module says it.
  return { ...tls, getCACertificates: (tls as { getCACertificates?: unknown }).getCACertificates, createSecureContext: vi.fn(tls.createSecureContext) };
});
vi.mock('undici', async (importOriginal) => {
  const undici = await importOriginal<typeof import('undici')>();
  const fetch = vi.fn(undici.fetch);
  // The network takes undici's exports from `default` where there is one, as a bundle split into chunks has them.
  return { ...undici, fetch, default: { ...undici, fetch } };
});

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

describe('createRegistryNetwork, costing a run only what it uses', () => {
  let dir = '';
  let registry: Awaited<ReturnType<typeof plainRegistry>>;
  const opened: RegistryNetwork[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-mirror-network-'));
    registry = await plainRegistry(() => 401);
  });
  afterAll(async () => {
    await Promise.all(opened.map((network) => network.close()));
    await new Promise((resolve) => registry.server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const network = (env: Env) => {
    const built = createRegistryNetwork(env);
    opened.push(built);
    return built;
  };

  it("sends a registry request (one hop, no proxy) with Node's own HTTP client, over plain HTTP or HTTPS to a server that speaks none: no undici, no certificate loaded, whatever the CA variables", async () => {
    const bundle = join(dir, 'bundle.pem');
    await writeFile(bundle, `${rootCertificates.slice(0, 3).join('\n')}\n`, { mode: 0o600 });
    vi.mocked(createSecureContext).mockClear();
    vi.mocked(undiciFetch).mockClear();
    const { fetch } = network({ SSL_CERT_FILE: bundle, SSL_CERT_DIR: dir, NODE_EXTRA_CA_CERTS: bundle, HTTP_PROXY: 'http://proxy.invalid:3128' });
    const answer = await fetch(`http://127.0.0.1:${registry.port}/v2/`, { redirect: 'manual' });
    expect(answer.status).toBe(401);
    await answer.body?.cancel();
    const tlsTry = await fetch(`https://127.0.0.1:${registry.port}/v2/`, { redirect: 'manual' }).catch((e: unknown) => e);
    expect(tlsTry).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(speaksPlainHttp(tlsTry)).toBe(true);
    expect(isCertificateRejection(tlsTry)).toBe(false);
    expect(createSecureContext).not.toHaveBeenCalled();
    expect(undiciFetch).not.toHaveBeenCalled();
  });

  it('answers as fetch does: the status, every header (repeated ones joined), the body, none for a HEAD', async () => {
    const server = createServer((req, res) => {
      res.writeHead(401, 'Unauthorized', { 'www-authenticate': ['Basic realm="a"', 'Bearer realm="b"'], 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : `{"method":"${req.method}","body":"${req.headers['content-length'] ?? ''}"}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { fetch } = network({});
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`;
      const put = await fetch(url, { method: 'PUT', body: '{"x":1}', redirect: 'manual' });
      expect([put.status, put.statusText, put.ok, put.headers.get('www-authenticate')]).toEqual([401, 'Unauthorized', false, 'Basic realm="a", Bearer realm="b"']);
      expect(await new Response(put.body).json()).toEqual({ method: 'PUT', body: '7' });
      const head = await fetch(url, { method: 'HEAD', redirect: 'manual' });
      expect([head.status, head.body]).toEqual([401, null]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("fails as fetch does: `fetch failed` with the cause, and an abort with the signal's reason", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const { fetch } = network({});
      await expect(fetch(`http://127.0.0.1:${port}/v2/`, { redirect: 'manual', signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'TimeoutError' });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
    const refused = await network({}).fetch(`http://127.0.0.1:${port}/v2/`, { redirect: 'manual' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'TypeError', message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
  });

  it('sends with undici a request that follows redirects', async () => {
    vi.mocked(undiciFetch).mockClear();
    const answer = await network({}).fetch(`http://127.0.0.1:${registry.port}/v2/`);
    expect(answer.status).toBe(401);
    await answer.body?.cancel();
    expect(undiciFetch).toHaveBeenCalledTimes(1);
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
