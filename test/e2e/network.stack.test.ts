import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pushImage } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { createRegistryNetwork, PROXY_USER_AGENT } from '../../shared/registry/network.ts';
import { runBin, writeImagesTree } from '../support/cli.ts';
import { type ConnectProxy, startConnectProxy } from '../support/connect-proxy.ts';
import { stack, uniqueName } from '../support/stack.ts';
import { startTlsRegistry, type TlsRegistry } from '../support/tls-registry.ts';

// A spy on the TLS context of the environment's CA certificates, which the network must build once, and only when needed.
vi.mock('node:tls', async (importOriginal) => {
  const tls = await importOriginal<typeof import('node:tls')>();
  // getCACertificates is absent before Node 22.15: said so, as the real module says it.
  return { ...tls, getCACertificates: (tls as { getCACertificates?: unknown }).getCACertificates, createSecureContext: vi.fn(tls.createSecureContext) };
});

// A name no resolver knows: only the proxy maps it to 127.0.0.1. Go's net/http never proxies a loopback address, so the
// registry must be named this way for the proxy to be used at all.
const PROXIED_NAME = 'registry.proxy.test';

describe('mirror sync reaches registries as crane does: proxy, private CA, scheme', () => {
  const s = stack();
  let registry: TlsRegistry;
  let proxy: ConnectProxy;
  const trees: string[] = [];
  // Each run is a process of its own: the network settings are read once, when it starts, by us and by crane.
  const cleanEnv = { HTTP_PROXY: '', http_proxy: '', HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', no_proxy: '', SSL_CERT_FILE: '', SSL_CERT_DIR: '', NODE_EXTRA_CA_CERTS: '', CRANE: s.crane };

  beforeAll(async () => {
    registry = await startTlsRegistry([PROXIED_NAME]);
    proxy = await startConnectProxy({ hosts: { [PROXIED_NAME]: '127.0.0.1' } });
  });
  afterAll(async () => {
    await proxy?.close();
    await registry?.close();
    await Promise.all(trees.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  /** An image in the stack's source registry (plain HTTP on 127.0.0.1), its images tree, and where it lands under `targetHost`. */
  async function sourceImage(prefix: string) {
    const ns = uniqueName(prefix);
    const pushed = await pushImage({ registry: s.sourceRegistry }, `${ns}/app`, '1', { layers: 1, layerBytes: 4096 });
    const images = await writeImagesTree({ [`${s.sourceRegistry.replace(':', '-')}/${ns}/app/Dockerfile`]: `FROM ${s.sourceRegistry}/${ns}/app:1\n` });
    trees.push(images);
    return { ns, digest: pushed.digest, images, targetRepository: `${ns}/${s.sourceRegistry.replace(':', '-')}/${ns}/app` };
  }

  const sync = (images: string, target: string, env: Record<string, string>) => runBin(['sync', '--images', images, '--target', target, '--json', '--quiet'], { ...cleanEnv, ...env });

  it('copies through HTTPS_PROXY into a TLS registry only the proxy can resolve, trusting SSL_CERT_FILE: our lookups and crane both tunnel', async () => {
    const image = await sourceImage('proxied');
    const run = await sync(image.images, `${PROXIED_NAME}:${registry.port}/${image.ns}`, { HTTPS_PROXY: proxy.url, SSL_CERT_FILE: registry.certificates.caFile });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results).toMatchObject([{ status: 'copied', digest: image.digest }]);
    expect(await registry.manifestDigest(image.targetRepository, '1')).toBe(image.digest);
    const authority = `${PROXIED_NAME}:${registry.port}`;
    const agents = new Set(proxy.tunnels.filter((tunnel) => tunnel.authority === authority && tunnel.opened).map((tunnel) => tunnel.userAgent));
    // Our HEADs name themselves; Go's transport sends its own User-Agent on CONNECT.
    expect(agents).toContain(PROXY_USER_AGENT);
    expect([...agents].some((agent) => agent?.startsWith('Go-http-client/'))).toBe(true);
    // The source is on 127.0.0.1: neither we nor crane send loopback traffic through a proxy.
    expect(proxy.tunnels.filter((tunnel) => tunnel.authority !== authority)).toEqual([]);
    expect(proxy.forwarded).toEqual([]);
  });

  it('copies into a TLS registry on 127.0.0.1 with a private CA, HTTPS tried before plain HTTP as crane does', async () => {
    const image = await sourceImage('tls');
    const tunnelsBefore = proxy.tunnels.length;
    const run = await sync(image.images, `${registry.host}/${image.ns}`, { SSL_CERT_FILE: registry.certificates.caFile });
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Report).results).toMatchObject([{ status: 'copied', digest: image.digest }]);
    expect(await registry.manifestDigest(image.targetRepository, '1')).toBe(image.digest);
    expect(proxy.tunnels).toHaveLength(tunnelsBefore);
  });

  it("trusts a CA from the files of SSL_CERT_DIR, and from NODE_EXTRA_CA_CERTS next to it, for one hop (Node's client) and with redirects followed (undici)", async () => {
    const empty = await writeImagesTree({ 'README': 'no certificate here\n' });
    trees.push(empty);
    for (const env of [{ SSL_CERT_DIR: dirname(registry.certificates.caFile) }, { SSL_CERT_DIR: empty, NODE_EXTRA_CA_CERTS: registry.certificates.caFile }]) {
      for (const redirect of ['manual', 'follow'] as const) {
        const network = createRegistryNetwork(env);
        try {
          const answer = await network.fetch(`https://${registry.host}/v2/`, { redirect });
          expect(answer.status).toBe(200);
          await answer.body?.cancel();
        } finally {
          await network.close();
        }
      }
    }
  });

  it("loads the environment's CA certificates once, for the server Node's own refuse, each certificate once whatever its copies", async () => {
    const ca = await readFile(registry.certificates.caFile, 'utf8');
    const notACertificate = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    const dir = await writeImagesTree({ 'ca.pem': ca, 'ca-copy.pem': ca, 'bundle.pem': `${notACertificate}${ca}`, 'README': 'no certificate here\n' });
    trees.push(dir);
    vi.mocked(createSecureContext).mockClear();
    const network = createRegistryNetwork({ SSL_CERT_DIR: dir, SSL_CERT_FILE: join(dir, 'bundle.pem') });
    try {
      for (let i = 0; i < 3; i += 1) {
        const answer = await network.fetch(`https://${registry.host}/v2/`, { redirect: 'manual' });
        expect(answer.status).toBe(200);
        await answer.body?.cancel();
      }
    } finally {
      await network.close();
    }
    expect(createSecureContext).toHaveBeenCalledTimes(1);
    const loaded = vi.mocked(createSecureContext).mock.calls[0]?.[0]?.ca as string[];
    const bare = (pem: string) => pem.replace(/\s+/g, '');
    expect(loaded.filter((pem) => bare(pem) === bare(ca))).toHaveLength(1);
    expect(new Set(loaded.map(bare)).size).toBe(loaded.length);
  });

  it('fails once, before any image, and exits 2, when the private CA of the target is not trusted', async () => {
    const image = await sourceImage('untrusted');
    const run = await sync(image.images, `${registry.host}/${image.ns}`, {});
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`cannot reach the target ${registry.host}: HEAD https://${registry.host}/v2/${image.targetRepository}/manifests/1`);
    expect(run.stderr).toMatch(/certificate/i);
    expect(await registry.manifestDigest(image.targetRepository, '1')).toBeUndefined();
  });
});
