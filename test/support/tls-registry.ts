import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './processes.ts';

/*
 * A registry that speaks only TLS, with a certificate from a private CA made for the test, as a company's internal
 * registry is: the real distribution registry (`docker-registry`, the Debian package) with `http.tls.certificate` and
 * `http.tls.key` set (https://distribution.github.io/distribution/about/configuration/#tls). The CA and the server
 * certificate are made at test time with `openssl`; the server certificate names the registry by subjectAltName only
 * (Go has ignored the Common Name since 1.15: https://go.dev/doc/go1.15#commonname), and every file lives in a private
 * directory (0700, files 0600) removed by `close()`.
 */

const run = promisify(execFile);

/** A private CA and a server certificate it signed. */
export interface TestCertificates {
  /** The CA certificate (PEM): the file for SSL_CERT_FILE. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TlsRegistry {
  /** The port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly host: string;
  readonly certificates: TestCertificates;
  /** The digest the registry holds under `repository:tag`, read over TLS trusting the private CA; undefined when absent. */
  manifestDigest(repository: string, tag: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Makes a CA and a server certificate for `names` (DNS names and IP addresses) in `dir`, with `openssl`. */
export async function makeCertificates(dir: string, names: readonly string[]): Promise<TestCertificates> {
  const file = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=image-mirror test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', ['req', ...key, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', `/CN=${names[0] ?? 'localhost'}`]);
  const altNames = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  await writeFile(file('server.ext'), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`, { mode: 0o600 });
  await run('openssl', [
    'x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-extfile', file('server.ext'), '-out', file('server.crt'),
  ]);
  for (const name of await readdir(dir)) await chmod(file(name), 0o600);
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') };
}

/** A free port on 127.0.0.1, as the system hands one out. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts a TLS-only docker-registry on 127.0.0.1 whose certificate names `names` (127.0.0.1 and localhost are always added). */
export async function startTlsRegistry(names: readonly string[] = []): Promise<TlsRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'image-mirror-tls-'));
  let child: ChildProcess | undefined;
  const close = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const certificates = await makeCertificates(dir, [...names, '127.0.0.1', 'localhost']);
    const data = join(dir, 'data');
    await mkdir(data, { mode: 0o700 });
    const ca = await readFile(certificates.caFile);
    let output = '';
    // A port handed out and released can be taken by someone else before the registry binds it: try a few.
    for (let attempt = 0; ; attempt += 1) {
      const port = await freePort();
      const config = join(dir, 'registry.yml');
      await writeFile(config, registryConfig(port, data, certificates), { mode: 0o600 });
      // The registry would take REGISTRY_* variables over its configuration file.
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
      child = spawn('docker-registry', ['serve', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => void (output = (output + chunk).slice(-8192)));
      const started = child;
      const exited = once(started, 'exit').then(() => true);
      const ready = waitFor(async () => (await statusOf(port, '/v2/', ca)) === 200 || started.exitCode !== null, () => output);
      await Promise.race([ready, exited]);
      if (started.exitCode === null) {
        return {
          port,
          host: `127.0.0.1:${port}`,
          certificates,
          manifestDigest: (repository, tag) => digestOf(port, repository, tag, ca),
          close,
        };
      }
      if (attempt === 2) throw new Error(`docker-registry with TLS did not start: ${output}`);
    }
  } catch (error) {
    await close();
    throw error;
  }
}

function registryConfig(port: number, data: string, certificates: TestCertificates): string {
  const quoted = (text: string) => `'${text.replace(/'/g, "''")}'`;
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${quoted(data)}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    '  tls:',
    `    certificate: ${quoted(certificates.certFile)}`,
    `    key: ${quoted(certificates.keyFile)}`,
    '',
  ].join('\n');
}

/** One request over TLS to 127.0.0.1:port trusting only `ca`: its status and headers, or undefined when none came. */
function answer(port: number, method: string, path: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, ca, headers, timeout: 5_000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function statusOf(port: number, path: string, ca: Buffer): Promise<number | undefined> {
  return (await answer(port, 'GET', path, ca))?.status;
}

async function digestOf(port: number, repository: string, tag: string, ca: Buffer): Promise<string | undefined> {
  const accept = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  const head = await answer(port, 'HEAD', `/v2/${repository}/manifests/${tag}`, ca, { accept });
  if (head === undefined) throw new Error(`HEAD ${repository}:${tag} on 127.0.0.1:${port}: no answer`);
  if (head.status === 404) return undefined;
  const digest = head.headers['docker-content-digest'];
  if (head.status !== 200 || typeof digest !== 'string') throw new Error(`HEAD ${repository}:${tag} on 127.0.0.1:${port}: ${head.status}`);
  return digest;
}
