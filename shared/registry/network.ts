import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { Dispatcher, RequestInit as UndiciRequestInit } from 'undici';
import { ConfigError } from '../errors.ts';
import { DOCKER_HUB } from '../image-ref/reference.ts';
import { rememberSecret, safeText } from '../safe-text.ts';

// Our registry requests must reach the network as crane's do, or an image that crane can copy fails its lookups (or the
// reverse): the same proxies (Go's net/http rules), the same CA certificates (Go reads SSL_CERT_FILE and SSL_CERT_DIR
// on Linux), and the same choice between HTTPS and plain HTTP (go-containerregistry's). crane gets these variables
// through CraneImageCopier's allow-list; this module reads them once, when the network is built.

/** The environment, as process.env or a test's. */
export type Env = Readonly<Record<string, string | undefined>>;

/** How registry requests reach the network, fixed when built. */
export interface RegistryNetwork {
  /** fetch through the proxy the environment names for the URL (none for loopback or NO_PROXY hosts), trusting its CA certificates. */
  readonly fetch: typeof fetch;
  /** The base URL of a registry's API: `https://host`, or `http://host` where plain HTTP is allowed and HTTPS does not answer. */
  readonly baseUrl: (registry: string) => Promise<string>;
  /** Ends the network's connections. */
  close(): Promise<void>;
}

export interface RegistryNetworkOptions {
  /** Aborted when the run is interrupted: a probe in flight stops. */
  readonly signal?: AbortSignal;
  /** The longest wait for one probe of `/v2/` (10 s by default). */
  readonly probeTimeoutMs?: number;
}

/** Docker Hub's registry API, where `docker.io` references are served. */
export const DOCKER_HUB_API = 'https://registry-1.docker.io';

/** How we name ourselves to a proxy, in CONNECT requests, as Go's client sends `Go-http-client/1.1`. */
export const PROXY_USER_AGENT = 'image-mirror';

/** The proxies of the environment, as Go reads them. */
export interface ProxySettings {
  readonly httpProxy?: URL;
  readonly httpsProxy?: URL;
  readonly noProxy: NoProxy;
}

/** NO_PROXY, parsed: everything (`*`), IP addresses and CIDR blocks, domains. */
interface NoProxy {
  readonly all: boolean;
  readonly ips: readonly { readonly list: BlockList; readonly port: string }[];
  readonly domains: readonly { readonly suffix: string; readonly port: string; readonly orSelf: boolean }[];
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const RFC_1918 = new BlockList();
RFC_1918.addSubnet('10.0.0.0', 8, 'ipv4');
RFC_1918.addSubnet('172.16.0.0', 12, 'ipv4');
RFC_1918.addSubnet('192.168.0.0', 16, 'ipv4');

/**
 * `http` when crane may fall back to plain HTTP for this registry host (after HTTPS, which it always tries first),
 * else `https`. The rule of go-containerregistry v0.14.0, the crane we ship, `name.Registry.Scheme()` in
 * pkg/name/registry.go: an RFC 1918 IPv4 address (10/8, 172.16/12, 192.168/16), `localhost:PORT`, a name ending in
 * `.local` or `.localhost` (port optional), `127.0.0.1` and `::1`. Later releases dropped `.local` and anchored the
 * loopback matches (v0.14 matches "127.0.0.1" and "::1" anywhere in the name); we anchor them too, so that no
 * public host whose name merely contains "127.0.0.1" gets plain HTTP. Bare `localhost` is HTTPS in both.
 */
export function registryScheme(registry: string): 'http' | 'https' {
  const name = registry.toLowerCase();
  // As go-containerregistry does: the text before the first ":" is the address.
  const address = name.split(':', 1)[0] ?? '';
  if (isIP(address) === 4 && RFC_1918.check(address, 'ipv4')) return 'http';
  if (name.startsWith('localhost:')) return 'http';
  if (/\.local(?:host)?(?::\d{1,5})?$/.test(name)) return 'http';
  if (/^127\.0\.0\.1(?::\d{1,5})?$/.test(name)) return 'http';
  if (/^(?:::1|\[::1\](?::\d{1,5})?)$/.test(name)) return 'http';
  return 'https';
}

/**
 * The proxy for a request to `url`, as Go's net/http picks it (golang.org/x/net/http/httpproxy, `proxyForURL` and
 * `useProxy`): HTTPS_PROXY for https URLs and HTTP_PROXY for http ones, never one for the other; none for `localhost`
 * or a loopback address, whatever the settings; none for a host NO_PROXY names.
 */
export function proxyFor(url: URL, settings: ProxySettings): URL | undefined {
  const proxy = url.protocol === 'https:' ? settings.httpsProxy : url.protocol === 'http:' ? settings.httpProxy : undefined;
  if (proxy === undefined) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const family = ipFamily(host);
  if (host === 'localhost' || (family !== undefined && LOOPBACK.check(host, family))) return undefined;
  const { noProxy } = settings;
  if (noProxy.all) return undefined;
  if (family !== undefined && noProxy.ips.some((rule) => rule.list.check(host, family) && (rule.port === '' || rule.port === port))) return undefined;
  if (noProxy.domains.some((rule) => (host.endsWith(rule.suffix) || (rule.orSelf && host === rule.suffix.slice(1))) && (rule.port === '' || rule.port === port))) return undefined;
  return proxy;
}

/**
 * Reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY as Go does (`httpproxy.FromEnvironment`): the upper-case name first, then
 * the lower-case one, an empty value counting as unset; `host:port` means `http://host:port`. Throws ConfigError for a
 * proxy that is not an http:// or https:// URL (Go would ignore it, and go direct).
 */
export function readProxySettings(env: Env): ProxySettings {
  const problems: string[] = [];
  const settings = proxySettings(env, problems);
  if (problems.length > 0) throw new ConfigError(`the proxy settings cannot be used: ${problems.join('; ')}`);
  return settings;
}

function proxySettings(env: Env, problems: string[]): ProxySettings {
  const httpProxy = proxyUrl(env, 'HTTP_PROXY', problems);
  const httpsProxy = proxyUrl(env, 'HTTPS_PROXY', problems);
  return { ...(httpProxy ? { httpProxy } : {}), ...(httpsProxy ? { httpsProxy } : {}), noProxy: parseNoProxy(firstSet(env, 'NO_PROXY')?.value ?? '') };
}

/**
 * The network registry requests go through, built from `env` once: its proxies (readProxySettings) and its CA
 * certificates (Node's own, plus SSL_CERT_FILE and the files of SSL_CERT_DIR, as crane trusts them). Throws
 * ConfigError listing every variable that cannot be used: a proxy that is not a URL, a CA file missing, unreadable or
 * holding no certificate.
 */
export function createRegistryNetwork(env: Env, options: RegistryNetworkOptions = {}): RegistryNetwork {
  const problems: string[] = [];
  const settings = proxySettings(env, problems);
  const trust = trustedCertificates(env, problems);
  if (problems.length > 0) throw new ConfigError(`the network settings cannot be used: ${problems.join('; ')}`);

  // undici takes some 50 ms to load: only a run that builds the network pays for it (not `mirror --help` nor `plan`),
  // and it starts now, so that a Lambda pays in its init phase. Its failure is the first request's.
  const transport = loadTransport(settings, trust);
  transport.catch(() => undefined);
  const registryFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // undici's fetch takes its own Request class, not the global one: only URLs come through here.
    if (typeof input !== 'string' && !(input instanceof URL)) throw new TypeError('registry requests take a URL, not a Request');
    const { fetch: send, dispatcher } = await transport;
    return (await send(input, { ...(init as unknown as UndiciRequestInit), dispatcher })) as unknown as Response;
  };
  return {
    fetch: registryFetch as typeof fetch,
    baseUrl: baseUrlResolver(registryFetch, options),
    close: async () => (await transport).close(),
  };
}

/**
 * The HttpRegistryClient options that send its requests the way crane's go: createRegistryNetwork() over this process's
 * environment, which crane inherits (through CraneImageCopier's allow-list). Throws ConfigError as it does.
 */
export function networkFromEnvironment(signal?: AbortSignal): Pick<RegistryNetwork, 'fetch' | 'baseUrl'> {
  const network = createRegistryNetwork(process.env, signal ? { signal } : {});
  return { fetch: network.fetch, baseUrl: network.baseUrl };
}

/** undici's fetch with the dispatcher that routes each origin directly or through its proxy. */
interface Transport {
  readonly fetch: typeof import('undici').fetch;
  readonly dispatcher: Dispatcher;
  close(): Promise<void>;
}

async function loadTransport(settings: ProxySettings, trust: string[] | undefined): Promise<Transport> {
  const { Agent, fetch, ProxyAgent } = await import('undici');
  // One TLS context for every connection, to registries and to an https:// proxy alike; Node's default without CA files.
  const connect = trust === undefined ? {} : { secureContext: tls.createSecureContext({ ca: trust }) };
  const direct = new Agent({ connect });
  const proxyAgents = new Map<string, Dispatcher>();
  for (const proxy of [settings.httpProxy, settings.httpsProxy]) {
    if (proxy === undefined || proxyAgents.has(proxy.href)) continue;
    // Plain-http requests go to the proxy in absolute form, as Go sends them; https ones through a CONNECT tunnel.
    proxyAgents.set(proxy.href, new ProxyAgent({ uri: proxy.href, proxyTunnel: false, requestTls: connect, proxyTls: connect, headers: { 'user-agent': PROXY_USER_AGENT } }));
  }
  // Chosen per origin, so that a redirect to another host is routed by that host's rule.
  const dispatcher = direct.compose((dispatch) => (opts, handler) => {
    const proxy = proxyFor(new URL(String(opts.origin)), settings);
    const agent = proxy === undefined ? undefined : proxyAgents.get(proxy.href);
    return agent === undefined ? dispatch(opts, handler) : agent.dispatch(opts, handler);
  });
  return {
    fetch,
    dispatcher,
    close: async () => {
      await Promise.all([direct.close(), ...[...proxyAgents.values()].map((agent) => agent.close())]);
    },
  };
}

/** What a probe of `GET /v2/` found: a registry (200 or 401), another HTTP answer, a TLS certificate we do not trust, nothing. */
type Probe = 'registry' | 'answer' | 'untrusted' | 'none';

/**
 * `(registry) => base URL`. `https://host` where crane uses HTTPS only. Where it may fall back to plain HTTP
 * (registryScheme), HTTPS is tried first with `GET /v2/`, then HTTP, as crane's ping does (go-containerregistry v0.14.0,
 * pkg/v1/remote/transport/ping.go: `schemes := []string{"https"}`, "http" added only when `reg.Scheme() == "http"`).
 * Both schemes give the answer crane's 200 or 401 gives; beyond that: a server that speaks TLS (any HTTP answer over
 * HTTPS, or a certificate we do not trust) keeps HTTPS, so that the request says why it failed rather than meeting a
 * TLS port in plain text; a plain-HTTP answer that is not a registry's is used but not kept; nothing at all gives
 * HTTPS, not kept, and the next request probes again.
 */
function baseUrlResolver(registryFetch: (url: string, init?: RequestInit) => Promise<Response>, options: RegistryNetworkOptions): (registry: string) => Promise<string> {
  const timeoutMs = options.probeTimeoutMs ?? 10_000;
  const known = new Map<string, Promise<string>>();
  const probe = async (base: string): Promise<Probe> => {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const response = await registryFetch(`${base}/v2/`, { signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout });
      await response.body?.cancel();
      return response.status === 200 || response.status === 401 ? 'registry' : 'answer';
    } catch (error) {
      return isCertificateRejection(error) ? 'untrusted' : 'none';
    }
  };
  const choose = async (registry: string): Promise<{ url: string; keep: boolean }> => {
    const https = `https://${registry}`;
    if ((await probe(https)) !== 'none') return { url: https, keep: true };
    const http = `http://${registry}`;
    const found = await probe(http);
    return found === 'none' ? { url: https, keep: false } : { url: http, keep: found === 'registry' };
  };
  return async (registry) => {
    if (registry === DOCKER_HUB) return DOCKER_HUB_API;
    if (registryScheme(registry) === 'https') return `https://${registry}`;
    const kept = known.get(registry);
    if (kept !== undefined) return kept;
    // Requests that start together share one probe.
    const choosing = choose(registry);
    const url = choosing.then((choice) => choice.url);
    known.set(registry, url);
    const choice = await choosing;
    if (!choice.keep && known.get(registry) === url) known.delete(registry);
    return choice.url;
  };
}

// Node's names for a certificate refused in the TLS handshake: OpenSSL's verification results (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
// SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, …) and ERR_TLS_CERT_ALTNAME_INVALID. The server spoke TLS.
const CERTIFICATE_CODE = /CERT|SIGNATURE|ISSUER|SELF_SIGNED|ALTNAME/;

/** True when the TLS handshake failed on the server's certificate (not trusted, expired, another name): no retry will help. */
export function isCertificateRejection(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && CERTIFICATE_CODE.test(code)) return true;
  }
  return false;
}

/** The first of `NAME` and `name` that is set and not empty, with the name it came from. */
function firstSet(env: Env, upper: string): { name: string; value: string } | undefined {
  for (const name of [upper, upper.toLowerCase()]) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

function proxyUrl(env: Env, upper: string, problems: string[]): URL | undefined {
  const found = firstSet(env, upper);
  if (found === undefined) return undefined;
  const text = found.value.trim();
  // Go's parseProxy: a value without an http, https or socks5 scheme is tried as `http://` + value.
  const withScheme = /^(?:https?|socks5):\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    problems.push(`${found.name} is not a proxy URL`);
    return undefined;
  }
  // A password in a proxy URL is a secret like any other: never printed.
  if (url.password) rememberSecret(decodeURIComponent(url.password));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${found.name}: ${safeText(url.protocol.slice(0, -1), 20)} proxies are not supported, only http:// and https:// ones`);
    return undefined;
  }
  if (url.hostname === '') {
    problems.push(`${found.name} names no proxy host`);
    return undefined;
  }
  return url;
}

/** NO_PROXY as Go's httpproxy reads it: `*`, IP addresses and CIDR blocks, domains (`.x` for subdomains only), each with an optional port. */
function parseNoProxy(text: string): NoProxy {
  const ips: { list: BlockList; port: string }[] = [];
  const domains: { suffix: string; port: string; orSelf: boolean }[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return { all: true, ips: [], domains: [] };
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    const cidrFamily = cidr ? ipFamily(cidr[1] as string) : undefined;
    if (cidr && cidrFamily !== undefined) {
      const list = new BlockList();
      const bits = Number(cidr[2]);
      if (bits > (cidrFamily === 'ipv4' ? 32 : 128)) continue;
      list.addSubnet(cidr[1] as string, bits, cidrFamily);
      ips.push({ list, port: '' });
      continue;
    }
    const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(entry);
    const hostPort = /^([^:]+):(\d*)$/.exec(entry);
    const host = bracketed?.[1] ?? hostPort?.[1] ?? entry;
    const port = bracketed?.[2] ?? hostPort?.[2] ?? '';
    if (host === '') continue;
    const family = ipFamily(host);
    if (family !== undefined) {
      const list = new BlockList();
      list.addAddress(host, family);
      ips.push({ list, port });
      continue;
    }
    const name = host.startsWith('*.') ? host.slice(1) : host;
    domains.push(name.startsWith('.') ? { suffix: name, port, orSelf: false } : { suffix: `.${name}`, port, orSelf: true });
  }
  return { all: false, ips, domains };
}

function ipFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  const version = isIP(host);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/**
 * The CA certificates to trust when the environment adds to Node's own: Node's defaults (NODE_EXTRA_CA_CERTS included),
 * the bundle in SSL_CERT_FILE, the certificate files of the directories in SSL_CERT_DIR (`:`-separated, as Go reads
 * it). Go on Linux reads SSL_CERT_FILE in place of the system bundle and SSL_CERT_DIR in place of the system
 * directories (crypto/x509, root_unix.go), the other still read: the system roots plus the private CA, as here, in
 * the usual case of one of them set. Undefined when neither is set: Node's defaults then hold as they are. The file
 * and each directory named must be readable, and the file must hold a certificate; each problem is added to
 * `problems`, naming the variable.
 */
function trustedCertificates(env: Env, problems: string[]): string[] | undefined {
  const certFile = env.SSL_CERT_FILE || undefined;
  const certDirs = (env.SSL_CERT_DIR ?? '').split(':').filter((dir) => dir !== '');
  if (certFile === undefined && certDirs.length === 0) return undefined;
  const added = certFile === undefined ? [] : certificatesOf('SSL_CERT_FILE', certFile, problems);
  for (const dir of certDirs) added.push(...directoryCertificates(dir, problems));
  return [...new Set([...nodeDefaultCertificates(env), ...added])];
}

/**
 * The CA certificates Node trusts by default: tls.getCACertificates('default') where Node has it (22.15 and later;
 * NODE_EXTRA_CA_CERTS included), else the bundled roots plus NODE_EXTRA_CA_CERTS read as Node reads it at start-up: a
 * file it cannot read is passed over (Node has already warned).
 */
function nodeDefaultCertificates(env: Env): string[] {
  const getDefaults = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
  if (getDefaults) return getDefaults('default');
  const extraFile = env.NODE_EXTRA_CA_CERTS || undefined;
  let extra: string[] = [];
  try {
    if (extraFile !== undefined) extra = pemCertificates(readFileSync(extraFile, 'utf8'));
  } catch {
    // As Node does.
  }
  return [...tls.rootCertificates, ...extra];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificates of a PEM file the environment names; a file that cannot be read, or holds none that parse, is a problem. */
function certificatesOf(variable: string, file: string, problems: string[]): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${variable} names "${safeText(file)}", which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return [];
  }
  const found = pemCertificates(text);
  if (found.length === 0) problems.push(`${variable} names "${safeText(file)}", which holds no PEM certificate`);
  return found;
}

/** The certificates of a directory's files; files that hold none are passed over, as Go does, but the directory must be readable. */
function directoryCertificates(dir: string, problems: string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    problems.push(`SSL_CERT_DIR names "${safeText(dir)}", which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return [];
  }
  const found: string[] = [];
  for (const name of names) {
    try {
      found.push(...pemCertificates(readFileSync(join(dir, name), 'utf8')));
    } catch {
      // A subdirectory, or a file we may not read: Go passes over it too.
    }
  }
  return found;
}

/** The PEM certificate blocks of a text that parse as X.509 certificates. */
function pemCertificates(text: string): string[] {
  return (text.match(PEM_CERTIFICATE) ?? []).filter((pem) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  });
}
