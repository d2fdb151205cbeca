import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { Dispatcher, RequestInit as UndiciRequestInit } from 'undici';
import { ConfigError, findCause } from '../errors.ts';
import { rememberSecret, safeText } from '../safe-text.ts';

// Our registry requests must reach the network as crane's do, or an image that crane can copy fails its lookups (or the
// reverse): the same proxies (Go's net/http rules), the same CA certificates (Go reads SSL_CERT_FILE and SSL_CERT_DIR
// on Linux), and the same choice between HTTPS and plain HTTP (go-containerregistry's). crane gets these variables
// through CraneImageCopier's allow-list; this module reads them once, when the network is built (the certificates
// themselves when a server first needs them). The choice of scheme is made by the registry client (httpsFirst), which
// sees the first answer of each registry.

/** The environment, as process.env or a test's. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What a registry request sends: fetch's options, narrowed to those it uses; a body of text or bytes at most. */
export interface RegistryRequestInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  readonly redirect?: 'follow' | 'manual' | 'error';
  readonly signal?: AbortSignal;
}

/** The headers of an answer: a name's value, repeated ones joined with ", ", as fetch's Headers gives them. */
export interface RegistryHeaders {
  get(name: string): string | null;
}

/** What a registry request gets back: the part of fetch's Response it reads. */
export interface RegistryResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: RegistryHeaders;
  readonly body: ReadableStream<Uint8Array> | null;
}

/** fetch, narrowed to what registry requests use: the global fetch is one. */
export type RegistryFetch = (url: string | URL, init?: RegistryRequestInit) => Promise<RegistryResponse>;

/** How registry requests reach the network, fixed when built. */
export interface RegistryNetwork {
  /**
   * Sends through the proxy the environment names for the URL (none for loopback or NO_PROXY hosts), trusting its CA
   * certificates. A request is sent again when Node's own CA certificates refuse its server's and the environment adds
   * some.
   */
  readonly fetch: RegistryFetch;
  /** Ends the network's connections. */
  close(): Promise<void>;
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
 * holding no certificate, a CA directory that cannot be read.
 *
 * It costs a run only what the run uses. A request that follows no redirect (`redirect: 'manual'`, as every registry
 * request is) and goes to no proxy is sent with Node's own HTTP client, keeping connections alive: a quarter of the CPU
 * fetch() takes for a lookup, and none of its loading. Any other goes through undici, loaded (some 50 ms) on first use.
 * The environment's CA certificates are read and loaded only for a server whose certificate Node's own refuse: no
 * public registry's, nor a plain-HTTP one's.
 */
export function createRegistryNetwork(env: Env): RegistryNetwork {
  const problems: string[] = [];
  const settings = proxySettings(env, problems);
  const trust = trustedCertificates(env, problems);
  if (problems.length > 0) throw new ConfigError(`the network settings cannot be used: ${problems.join('; ')}`);
  const direct = directTransport(trust);
  const transport = lazyTransport(settings, trust);
  // Origins whose certificate only the environment's CA certificates vouch for.
  const privateCa = new Set<string>();

  const registryFetch = async (input: string | URL, init: RegistryRequestInit = {}): Promise<RegistryResponse> => {
    const url = new URL(input);
    const send = init.redirect === 'manual' && proxyFor(url, settings) === undefined ? direct.fetch : transport.fetch;
    const trusting = trust !== undefined && privateCa.has(url.origin);
    try {
      return await send(url, init, trusting);
    } catch (error) {
      if (trusting || trust === undefined || !isCertificateRejection(error)) throw error;
      // Refused before any byte of the request was sent: sent again, trusting the environment's CA certificates too.
      privateCa.add(url.origin);
      return send(url, init, true);
    }
  };
  return { fetch: registryFetch, close: async () => void (await Promise.all([direct.close(), transport.close()])) };
}

/**
 * The HttpRegistryClient options that send its requests the way crane's go: createRegistryNetwork() over this process's
 * environment, which crane inherits (through CraneImageCopier's allow-list), and HTTPS first where crane may fall back
 * to plain HTTP. Throws ConfigError as createRegistryNetwork() does.
 */
export function networkFromEnvironment(): { fetch: RegistryFetch; httpsFirst: true } {
  return { fetch: createRegistryNetwork(process.env).fetch, httpsFirst: true };
}

/** One way of sending a request: with Node's CA certificates only, or (`trusting`) with the environment's too. */
interface Transport {
  fetch(url: URL, init: RegistryRequestInit, trusting: boolean): Promise<RegistryResponse>;
  close(): Promise<void>;
}

/**
 * Node's HTTP client behind fetch's interface, for one hop (no redirect followed): the answer as fetch gives it
 * (RegistryResponse, built without loading Node's fetch), a failure as fetch's `TypeError: fetch failed` with the cause,
 * an abort as the signal's reason. Connections are kept alive, one agent per kind, created on first use.
 */
function directTransport(trust: Trust | undefined): Transport {
  const agents = new Map<string, HttpAgent>();
  const agentFor = (url: URL, trusting: boolean): HttpAgent => {
    const kind = url.protocol === 'https:' ? (trusting ? 'trusting' : 'https') : 'http';
    let agent = agents.get(kind);
    if (agent === undefined) {
      // Idle connections closed after 4 s, as undici does: a NAT or the server may have dropped them meanwhile.
      const options = { keepAlive: true, timeout: IDLE_TIMEOUT_MS, ...(kind === 'trusting' && trust ? { secureContext: trust.secureContext() } : {}) };
      agent = kind === 'http' ? new HttpAgent(options) : new HttpsAgent(options);
      agents.set(kind, agent);
    }
    return agent;
  };
  return {
    fetch: (url, init, trusting) =>
      new Promise<RegistryResponse>((resolve, reject) => {
        const { signal } = init;
        if (signal?.aborted) return reject(signal.reason);
        const method = init.method ?? 'GET';
        const headers: Record<string, string> = { 'user-agent': PROXY_USER_AGENT };
        for (const [name, value] of Object.entries(init.headers ?? {})) headers[name.toLowerCase()] = value;
        if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
        const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, agent: agentFor(url, trusting) });
        let answering: IncomingMessage | undefined;
        // Before the answer, the request; once it came, its body too, so that a read cut off says why (a time limit).
        const abort = () => {
          answering?.destroy(signal?.reason);
          request.destroy(signal?.reason);
        };
        signal?.addEventListener('abort', abort, { once: true });
        const done = () => signal?.removeEventListener('abort', abort);
        request.on('error', (error) => {
          done();
          reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error }));
        });
        request.once('response', (answer) => {
          answering = answer;
          answer.once('close', done);
          const status = answer.statusCode ?? 0;
          const received = new Map<string, string>();
          for (let i = 0; i + 1 < answer.rawHeaders.length; i += 2) {
            const name = (answer.rawHeaders[i] as string).toLowerCase();
            const value = answer.rawHeaders[i + 1] as string;
            const before = received.get(name);
            received.set(name, before === undefined ? value : `${before}, ${value}`);
          }
          const empty = method === 'HEAD' || NULL_BODY_STATUS.has(status);
          // Read to its end, so that the connection serves another request; a late failure has nothing left to spoil.
          if (empty) answer.on('error', () => {}).resume();
          let body: ReadableStream<Uint8Array> | undefined;
          resolve({
            status,
            statusText: answer.statusMessage ?? '',
            ok: status >= 200 && status <= 299,
            headers: { get: (name) => received.get(name.toLowerCase()) ?? null },
            // Made when asked for: most answers are read whole or cancelled, a HEAD's not at all.
            get body() {
              return empty ? null : (body ??= webBody(answer));
            },
          });
        });
        request.end(init.body);
      }),
    close: async () => {
      for (const agent of agents.values()) agent.destroy();
    },
  };
}

/** How long a kept-alive connection may stay idle before it is closed. */
const IDLE_TIMEOUT_MS = 4_000;

/**
 * An answer's body as fetch gives it. Cancelled (a 401's, a redirect's), it is read to its end when it has all come,
 * so that the connection serves the next request, and destroyed when more is still on its way.
 */
function webBody(answer: IncomingMessage): ReadableStream<Uint8Array> {
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      answer.on('data', (chunk: Buffer) => {
        if (cancelled) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) answer.pause();
      });
      answer.once('end', () => cancelled || controller.close());
      answer.on('error', (error) => cancelled || controller.error(error));
      answer.pause();
    },
    pull() {
      answer.resume();
    },
    cancel() {
      cancelled = true;
      if (answer.complete) answer.resume();
      else answer.destroy();
    },
  });
}

// Statuses whose answer has no body (RFC 9110, sections 15.3.5, 15.3.6 and 15.4.5).
const NULL_BODY_STATUS = new Set([204, 205, 304]);

/** undici, loaded on first use, with its dispatchers: Node's CA certificates only, or the environment's too. */
function lazyTransport(settings: ProxySettings, trust: Trust | undefined): Transport {
  let undici: Promise<typeof import('undici')> | undefined;
  // undici is CommonJS: where the CLI's bundle is split into chunks, its exports come under `default` only.
  const load = () => (undici ??= import('undici').then((loaded) => (loaded as unknown as { default?: typeof loaded }).default ?? loaded));
  const dispatchers = new Map<boolean, Promise<Dispatcher[]>>();
  const dispatcherOf = (trusting: boolean): Promise<Dispatcher[]> => {
    let built = dispatchers.get(trusting);
    if (built === undefined) {
      built = load().then((loaded) => buildDispatchers(loaded, settings, trusting && trust ? trust.secureContext() : undefined));
      dispatchers.set(trusting, built);
    }
    return built;
  };
  return {
    async fetch(input, init, trusting) {
      const [{ fetch: send }, [dispatcher]] = await Promise.all([load(), dispatcherOf(trusting)]);
      return (await send(input, { ...(init as UndiciRequestInit), ...(dispatcher ? { dispatcher } : {}) })) as unknown as RegistryResponse;
    },
    async close() {
      const all = await Promise.allSettled(dispatchers.values());
      await Promise.all(all.flatMap((built) => (built.status === 'fulfilled' ? built.value.slice(1).map((agent) => agent.close()) : [])));
    },
  };
}

/** The dispatcher that routes each origin directly or through its proxy, then every agent under it (to close them). */
function buildDispatchers({ Agent, ProxyAgent }: typeof import('undici'), settings: ProxySettings, secureContext: tls.SecureContext | undefined): Dispatcher[] {
  // One TLS context for every connection, to registries and to an https:// proxy alike; Node's default without one.
  const connect = secureContext === undefined ? {} : { secureContext };
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
  return [dispatcher, direct, ...proxyAgents.values()];
}

// Node's names for a certificate refused in the TLS handshake: OpenSSL's verification results (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
// SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, …) and ERR_TLS_CERT_ALTNAME_INVALID. The server spoke TLS.
const CERTIFICATE_CODE = /CERT|SIGNATURE|ISSUER|SELF_SIGNED|ALTNAME/;

/** True when the TLS handshake failed on the server's certificate (not trusted, expired, another name): no retry will help. */
export function isCertificateRejection(error: unknown): boolean {
  return hasCode(error, (code) => CERTIFICATE_CODE.test(code));
}

// What OpenSSL says when the answer to its ClientHello is not TLS at all (a plain-HTTP server's `400 Bad Request`): as
// Node names it when read, or in the message of an EPROTO when the request was being written.
const NOT_TLS_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE']);
const NOT_TLS_REASON = /wrong version number|packet length too long|record layer failure/i;

/** True when a TLS handshake was answered in something other than TLS: the server speaks plain HTTP on that port. */
export function speaksPlainHttp(error: unknown): boolean {
  return hasCode(error, (code, message) => NOT_TLS_CODES.has(code) || (code === 'EPROTO' && NOT_TLS_REASON.test(message)));
}

/** True when `error` or one of its causes has a `code` that `matches`. */
function hasCode(error: unknown, matches: (code: string, message: string) => boolean): boolean {
  const coded = (found: Error) => {
    const code = (found as NodeJS.ErrnoException).code;
    return typeof code === 'string' && matches(code, found.message);
  };
  return findCause(error, Error, coded) !== undefined;
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
  // A password in a proxy URL is a secret like any other: never printed, in either of its forms.
  if (url.password) {
    rememberSecret(url.password);
    try {
      rememberSecret(decodeURIComponent(url.password));
    } catch {
      problems.push(`${found.name}: the proxy password is not valid percent-encoding`);
      return undefined;
    }
  }
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

/** The CA certificates the environment adds to Node's own, as one TLS context, built on first use. */
interface Trust {
  secureContext(): tls.SecureContext;
}

/**
 * The CA certificates to trust when the environment adds to Node's own: Node's defaults (NODE_EXTRA_CA_CERTS included),
 * the bundle in SSL_CERT_FILE, the certificate files of the directories in SSL_CERT_DIR (`:`-separated, as Go reads
 * it). Go on Linux reads SSL_CERT_FILE in place of the system bundle and SSL_CERT_DIR in place of the system
 * directories (crypto/x509, root_unix.go), the other still read: the system roots plus the private CA, as here, in
 * the usual case of one of them set. Undefined when neither is set: Node's defaults then hold as they are. The file
 * must be readable and hold a certificate, and each directory named must be readable: each problem is added to
 * `problems`, naming the variable. The directories' files are read, and every certificate loaded, only when the TLS
 * context is first asked for.
 */
function trustedCertificates(env: Env, problems: string[]): Trust | undefined {
  const certFile = env.SSL_CERT_FILE || undefined;
  const certDirs = (env.SSL_CERT_DIR ?? '').split(':').filter((dir) => dir !== '');
  if (certFile === undefined && certDirs.length === 0) return undefined;
  const fileText = certFile === undefined ? undefined : certificateFile('SSL_CERT_FILE', certFile, problems);
  const dirFiles = certDirs.map((dir) => directoryFiles(dir, problems));
  let context: tls.SecureContext | undefined;
  return {
    secureContext() {
      if (context !== undefined) return context;
      const texts = [...nodeDefaultCertificates(env), fileText ?? '', ...dirFiles.flat().map(readIfFile)];
      // The same certificate often comes several times (a bundle, its files, their hash links; Node's own roots): once
      // is enough, and each block costs OpenSSL a parse. A block that does not parse is passed over, as Go does.
      const blocks = new Map<string, string>();
      for (const text of texts) for (const pem of text.match(PEM_CERTIFICATE) ?? []) blocks.set(pem.replace(/\s+/g, ''), pem);
      context = tls.createSecureContext({ ca: [...blocks.values()] });
      return context;
    },
  };
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
  return [...tls.rootCertificates, extraFile === undefined ? '' : readIfFile(extraFile)];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The text of a PEM file the environment names; a file that cannot be read, or holds no certificate, is a problem. */
function certificateFile(variable: string, file: string, problems: string[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${variable} names "${safeText(file)}", which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return undefined;
  }
  // The first block that parses is enough to tell a bundle from another file; the others are left to OpenSSL.
  const parses = (pem: string) => {
    try {
      new X509Certificate(pem);
      return true;
    } catch {
      return false;
    }
  };
  if (!(text.match(PEM_CERTIFICATE) ?? []).some(parses)) problems.push(`${variable} names "${safeText(file)}", which holds no PEM certificate`);
  return text;
}

/** The paths of a directory's files, read later; the directory must be readable. */
function directoryFiles(dir: string, problems: string[]): string[] {
  try {
    return readdirSync(dir).map((name) => join(dir, name));
  } catch (error) {
    problems.push(`SSL_CERT_DIR names "${safeText(dir)}", which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return [];
  }
}

/** A file's text, or nothing for a subdirectory or a file we may not read: Go passes over them too. */
function readIfFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
