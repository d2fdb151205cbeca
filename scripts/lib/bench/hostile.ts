// The worst hostile inputs known, each run through the bundled `mirror` command as its own process: wall time and peak
// resident memory (from the process's own resource usage), and what the command made of it. Nothing here needs the
// stack: the misbehaving registries are small servers of this module.
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface HostileFigure {
  readonly input: string;
  readonly seconds: number;
  /** Peak resident set size of the `mirror` process, MiB. */
  readonly peakMiB: number;
  readonly exitCode: number | null;
  /** What came out: the hostile file's or image's error, or the size of the report. */
  readonly outcome: string;
}

/** A run that is not bounded is stopped here and reported as such. */
const LIMIT_MS = 60_000;
const CHUNK = Buffer.alloc(64 * 1024, 'a');

interface Case {
  readonly input: string;
  readonly files: Record<string, string>;
  readonly args: (images: string, hosts: Hosts) => string[];
  readonly outcome: (stdout: string) => string;
}

interface Hosts {
  /** Asks for a Bearer token at a token endpoint whose answer never ends. */
  readonly streamingToken: string;
  /** Answers manifest GETs with a body that never ends. */
  readonly streamingManifest: string;
}

const VALID = { 'docker.io/library/alpine/Dockerfile': 'FROM alpine:3.20\n' };

function fileError(file: string): (stdout: string) => string {
  return (stdout) => {
    const report = JSON.parse(stdout) as { errors: { file: string; message: string }[]; results: unknown[] };
    const message = report.errors.find((e) => e.file === file)?.message ?? 'no error';
    return `${report.results.length} valid image(s) planned; the file: ${message.length > 90 ? `${message.slice(0, 90)}…` : message}`;
  };
}

function imageError(stdout: string): string {
  const report = JSON.parse(stdout) as { results: { status: string; error: string | null }[]; added?: { error: string | null }[] };
  const error = report.results?.find((r) => r.error)?.error ?? report.added?.find((a) => a.error)?.error ?? 'no error';
  return error.replace(/^.*?: (?=[^:]*(larger|more than|cap))/, '… ').slice(0, 140);
}

function cases(quick: boolean): Case[] {
  const collisions = quick ? 4000 : 8000;
  const files = quick ? 10_000 : 100_000;
  const plan = (images: string) => ['plan', '--images', images, '--json'];
  return [
    {
      input: 'a Dockerfile nesting `${A:-…}` 4,000 deep (24 KB)',
      files: { ...VALID, 'docker.io/bad/nested/Dockerfile': `ARG A\nFROM alpine:${'${A:-'.repeat(4000)}3${'}'.repeat(4000)}\n` },
      args: plan,
      outcome: fileError('docker.io/bad/nested/Dockerfile'),
    },
    {
      input: 'an ARG chain doubling 9 times from 1,000,000 characters (1 MB)',
      files: { ...VALID, 'docker.io/bad/doubling/Dockerfile': `ARG L0=${'a'.repeat(1_000_000)}\n${Array.from({ length: 9 }, (_, i) => `ARG L${i + 1}=\${L${i}}\${L${i}}`).join('\n')}\nFROM alpine:\${L9}\n` },
      args: plan,
      outcome: fileError('docker.io/bad/doubling/Dockerfile'),
    },
    {
      input: 'an unclosed `${` of 1,000,000 characters',
      files: { ...VALID, 'docker.io/bad/unclosed/Dockerfile': `FROM alpine:\${${'A'.repeat(1_000_000)}\n` },
      args: plan,
      outcome: fileError('docker.io/bad/unclosed/Dockerfile'),
    },
    {
      input: `${collisions.toLocaleString('en')} files naming one target`,
      files: Object.fromEntries(Array.from({ length: collisions }, (_, i) => [`docker.io/c${i}/Dockerfile`, `FROM redis:7@sha256:${i.toString(16).padStart(64, '0')}\n`])),
      args: (images) => ['plan', '--images', images, '--target', 'registry.example.com', '--json'],
      outcome: (stdout) => `${(stdout.length / 1024 / 1024).toFixed(1)} MiB of JSON`,
    },
    {
      input: `${files.toLocaleString('en')} Dockerfiles, one per directory`,
      files: Object.fromEntries(Array.from({ length: files }, (_, i) => [`docker.io/lib/img${i}/Dockerfile`, `FROM lib/img${i}:1\n`])),
      args: plan,
      outcome: (stdout) => `${(JSON.parse(stdout) as { results: unknown[] }).results.length.toLocaleString('en')} images planned`,
    },
    {
      input: 'a token endpoint whose answer never ends',
      files: {},
      args: (images, hosts) => ['sync', '--images', images, '--target', `${hosts.streamingToken}/m`, '--json', '--quiet'],
      outcome: imageError,
    },
    {
      input: 'a manifest GET whose body never ends (`plan --base` cost lookup)',
      files: {},
      args: (images, hosts) => ['plan', '--images', images, '--base', `${images}-empty`, '--json'],
      outcome: imageError,
    },
  ];
}

/** Measures every hostile case with the bundled CLI (`dist/mirror.mjs`, built by the caller). */
export async function measureHostile(root: string, work: string, quick: boolean, progress: (text: string) => void): Promise<HostileFigure[]> {
  const servers = await startStreamingRegistries();
  try {
    const figures: HostileFigure[] = [];
    for (const c of cases(quick)) {
      progress(`hostile input: ${c.input}`);
      const images = join(work, `hostile-${figures.length}`);
      await rm(images, { recursive: true, force: true });
      await mkdir(`${images}-empty`, { recursive: true });
      const streaming = c.input.includes('token') ? servers.hosts.streamingToken : c.input.includes('manifest') ? servers.hosts.streamingManifest : undefined;
      await writeTree(images, streaming === undefined ? c.files : { [`${streaming}/x/app/Dockerfile`]: `FROM ${streaming}/x/app:1\n` });
      const run = await runMeasured(root, c.args(images, servers.hosts));
      let outcome: string;
      try {
        outcome = run.killed ? `still running after ${LIMIT_MS / 1000} s: stopped` : c.outcome(run.stdout);
      } catch {
        outcome = `no JSON report (exit ${run.exitCode}): ${run.stderr.trim().split('\n').at(-1) ?? ''}`.slice(0, 160);
      }
      figures.push({ input: c.input, seconds: run.seconds, peakMiB: run.peakKiB / 1024, exitCode: run.exitCode, outcome });
      await rm(images, { recursive: true, force: true });
      await rm(`${images}-empty`, { recursive: true, force: true });
    }
    return figures;
  } finally {
    await servers.close();
  }
}

/** The figures as a markdown table. */
export function renderHostile(figures: readonly HostileFigure[]): string[] {
  const out = ['Hostile input, each a `mirror` process of its own (peak memory from its resource usage):', ''];
  out.push('| input | seconds | peak memory | exit | outcome |', '| --- | ---: | ---: | ---: | --- |');
  for (const f of figures) out.push(`| ${f.input} | ${f.seconds.toFixed(2)} | ${f.peakMiB.toFixed(0)} MiB | ${f.exitCode ?? 'killed'} | ${f.outcome.replace(/\|/g, '\\|')} |`);
  out.push('');
  return out;
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = Object.entries(files);
  // A few hundred at once: fast, and well below the open-file limit.
  for (let i = 0; i < entries.length; i += 256) {
    await Promise.all(
      entries.slice(i, i + 256).map(async ([path, text]) => {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), text);
      }),
    );
  }
}

// Runs dist/mirror.mjs in a node process that reports its own peak RSS as it exits.
function runMeasured(root: string, args: string[]): Promise<{ seconds: number; peakKiB: number; exitCode: number | null; killed: boolean; stdout: string; stderr: string }> {
  const reporter = "process.on('exit', () => process.stderr.write(`\\npeak-rss-kib ${process.resourceUsage().maxRSS}\\n`));";
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(reporter)}`, join(root, 'dist', 'mirror.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-64 * 1024);
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, LIMIT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const peak = /peak-rss-kib (\d+)/.exec(stderr)?.[1];
      resolve({ seconds: (performance.now() - started) / 1000, peakKiB: peak === undefined ? Number.NaN : Number(peak), exitCode: code, killed, stdout: Buffer.concat(stdout).toString('utf8'), stderr });
    });
  });
}

// Two registries that never finish an answer: one at its token endpoint, one in its manifest GETs.
async function startStreamingRegistries(): Promise<{ hosts: Hosts; close(): Promise<void> }> {
  const endless = (res: ServerResponse, prefix: string) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(prefix);
    const timer = setInterval(() => res.write(CHUNK), 1);
    res.on('close', () => clearInterval(timer));
  };
  let tokenHost = '';
  const token = createServer((req, res) => {
    if (req.url?.startsWith('/token')) return endless(res, '{"token":"');
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokenHost}/token",service="x"`, 'content-type': 'application/json' }).end('{}');
  });
  const manifest = createServer((req, res) => {
    const isManifest = /\/manifests\//.test(req.url ?? '');
    if (req.method === 'GET' && isManifest) return endless(res, '{"schemaVersion":2,"x":"');
    // The HEAD says an index, whose cost only a GET tells: the cost lookup then reads the endless body.
    if (req.method === 'HEAD' && isManifest) {
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end();
    }
    res.writeHead(req.url === '/v2/' ? 200 : 404).end();
  });
  const listen = (server: Server) => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
  tokenHost = await listen(token);
  const manifestHost = await listen(manifest);
  const close = (server: Server) => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return { hosts: { streamingToken: tokenHost, streamingManifest: manifestHost }, close: async () => void (await Promise.all([close(token), close(manifest)])) };
}
