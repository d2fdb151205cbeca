/**
 * `npm run bench`: image-mirror (its `mirror` command, dist/mirror.mjs, and `npm run mirror`) against the seed
 * document's `crane cp` loop and `skopeo sync`, on the local stack.
 * Seeds synthetic images into a source registry, optionally puts a loopback proxy that delays every request in front
 * of it (the internet round trip to Docker Hub; the target stays near, as ECR is to a Lambda in its region), runs each
 * tool cold then no-op on a fresh target, counts the source's manifest GETs (pulls), HEADs and blob GETs from its
 * access log, checks every digest in the target, and prints a markdown report. Exits 1 when a digest check or a tool
 * fails; timings never fail it.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { countRequestsSince, logMark } from './lib/bench/access-log.ts';
import { type DelayProxy, startDelayProxy } from './lib/bench/delay-proxy.ts';
import { startCpuMeter } from './lib/bench/cpu.ts';
import { measureColdInit, measureGitHubCalls, measureWorkerBundle } from './lib/bench/extras.ts';
import { measureHostile } from './lib/bench/hostile.ts';
import { imageMirror, imageMirrorTool, type RunContext, seedLoop, type Tool, TOOLS } from './lib/bench/peers.ts';
import { allVerified, type BenchResults, type Machine, median, type Phase, renderReport, type Sample, type Series } from './lib/bench/report.ts';
import { seedImages, writeImagesTree } from './lib/bench/seed.ts';
import { type BenchStack, freshTarget, startStack, type StackSettings, stopStack } from './lib/bench/stack.ts';
import { verifyTarget } from './lib/bench/verify.ts';

const execFileAsync = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

// Apart from the demo's (51xx) and the tests' (52xx) stacks, so that all three can run at once.
const STACK: StackSettings = { root, dir: join(root, '.stack', 'bench'), sourcePort: 5401, targetPort: 5402, motoPort: 5403 };
const PROXY_PORT = 5404;
const TARGET_PREFIX = 'mirror';
const GITHUB_DOCKERFILES = 500;
const COLD_INIT_SAMPLES = 5;
const CLI_START_SAMPLES = 3;
// Fewer copies at once than cores can serve, and far more.
const WHAT_IF_CONCURRENCY = [4, 32];
const MIRROR_BIN: [string, ...string[]] = [process.execPath, 'dist/mirror.mjs'];
const MIRROR_NPM: [string, ...string[]] = ['npm', 'run', '--silent', 'mirror', '--'];

const USAGE = `usage: npm run bench -- [options]

  --images N           images seeded into the source registry (30; 4 with --quick)
  --runs R             runs of each tool, each on a fresh target, cold then no-op (3; 1 with --quick)
  --latency MS         delay added to every source request by a loopback proxy; 0: no proxy (50)
  --floor-runs R       runs of the seed loop and image-mirror at 0 ms, the floor the cold target is judged on (= --runs)
  --layer-bytes A-B    layer size range, e.g. 256KiB-2MiB (512KiB-4MiB; 16KiB-64KiB with --quick)
  --concurrency N      image-mirror's --concurrency: copies at once (8)
  --lookup-concurrency N
                       image-mirror's --lookup-concurrency: HEADs at once, apart from the copies (32)
  --out FILE           also write the report into FILE, between <!-- bench:begin --> and <!-- bench:end -->
  --skip-package       measure the worker bundle already built instead of running npm run package (implied by --quick)
  --what-if            also run image-mirror at --concurrency 4 and 32, and with its HEADs at the copies' concurrency
  --quick              a small instance for CI: 4 images, 1 run, small layers, smaller hostile-input trees
  --keep-stack         leave the stack running (.stack/bench) for a look at its logs
`;

interface Options {
  readonly images: number;
  readonly runs: number;
  readonly latencyMs: number;
  readonly floorRuns: number;
  readonly layerBytes: readonly [number, number];
  readonly concurrency: number;
  readonly lookupConcurrency: number;
  readonly out?: string;
  readonly skipPackage: boolean;
  readonly keepStack: boolean;
  readonly whatIf: boolean;
  /** Smaller hostile-input cases (10,000 files, 4,000 collisions). */
  readonly quick: boolean;
}

class UsageError extends Error {}

function wholeNumber(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be a whole number of at least ${min}, got "${value}"`);
  return Number(value);
}

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--layer-bytes: "${text}" is not a size like 512KiB or 2MiB`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1;
  return Math.round(Number(match[1]) * factor);
}

function parseOptions(argv: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      images: { type: 'string' },
      runs: { type: 'string' },
      latency: { type: 'string' },
      'floor-runs': { type: 'string' },
      'layer-bytes': { type: 'string' },
      concurrency: { type: 'string' },
      'lookup-concurrency': { type: 'string' },
      out: { type: 'string' },
      'skip-package': { type: 'boolean' },
      quick: { type: 'boolean' },
      'keep-stack': { type: 'boolean' },
      'what-if': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  const range = (values['layer-bytes'] ?? (quick ? '16KiB-64KiB' : '512KiB-4MiB')).split('-').map(parseSize);
  const [low = 0, high = low] = range;
  if (range.length > 2 || low < 1 || high < low) throw new UsageError(`--layer-bytes: "${values['layer-bytes']}" is not a range like 256KiB-2MiB`);
  return {
    images: wholeNumber('images', values.images, quick ? 4 : 30, 1),
    runs: wholeNumber('runs', values.runs, quick ? 1 : 3, 1),
    latencyMs: wholeNumber('latency', values.latency, 50, 0),
    floorRuns: wholeNumber('floor-runs', values['floor-runs'], wholeNumber('runs', values.runs, quick ? 1 : 3, 1), 1),
    layerBytes: [low, high],
    concurrency: wholeNumber('concurrency', values.concurrency, 8, 1),
    lookupConcurrency: wholeNumber('lookup-concurrency', values['lookup-concurrency'], 32, 1),
    ...(values.out ? { out: values.out } : {}),
    skipPackage: quick || values['skip-package'] === true,
    keepStack: values['keep-stack'] === true,
    whatIf: values['what-if'] === true,
    quick,
  };
}

function progress(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args);
    return (stdout || stderr).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return `${command}: not found`;
  }
}

// What image-mirror reads to reach registries (shared/registry/network.ts), as crane does: proxies and CA certificates.
const NETWORK_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS'];

async function describeMachine(): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    memory: `${(totalmem() / 1024 ** 3).toFixed(0)} GiB`,
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? 'unknown OS',
    kernel: release(),
    node: process.version,
    crane: await firstLine('crane', ['version']),
    skopeo: await firstLine('skopeo', ['--version']),
    registry: (await firstLine('docker-registry', ['--version'])).replace('github.com/docker/', ''),
    // Names only: a proxy URL may hold a password.
    networkEnv: NETWORK_VARIABLES.filter((name) => (process.env[name] ?? '') !== ''),
  };
}

/** Time of `sync --help` (the whole module graph, no registry call): what every CLI run pays before its first request. */
async function measureCliStart(command: readonly [string, ...string[]], samples: number): Promise<number[]> {
  const [file, ...args] = command;
  const out: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const started = performance.now();
    await execFileAsync(file, [...args, 'sync', '--help'], { cwd: root });
    out.push((performance.now() - started) / 1000);
  }
  return out;
}

/** Writes the target's credentials where crane and skopeo (a Docker config) and image-mirror (--credentials) read them. */
async function writeCredentials(work: string, stack: BenchStack): Promise<{ dockerConfigDir: string; credentialsFile: string }> {
  const dockerConfigDir = join(work, 'docker-config');
  await mkdir(dockerConfigDir, { recursive: true, mode: 0o700 });
  const { username, password } = stack.targetAuth;
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  await writeFile(join(dockerConfigDir, 'config.json'), JSON.stringify({ auths: { [stack.targetRegistry]: { auth } } }), { mode: 0o600 });
  const credentialsFile = join(work, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify({ [stack.targetRegistry]: { username, password } }), { mode: 0o600 });
  return { dockerConfigDir, credentialsFile };
}

/** Runs one tool on a fresh target, cold then no-op, counting source requests and checking the target after each. */
async function measurePair(tool: Tool, context: RunContext, stack: BenchStack, latencyMs: number, series: Series[], label: string): Promise<void> {
  await freshTarget(STACK);
  const target = { registry: stack.targetRegistry, auth: stack.targetAuth };
  for (const phase of ['cold', 'no-op'] as Phase[]) {
    const mark = await logMark(stack.sourceLog);
    const meter = await startCpuMeter(STACK.dir);
    const ran = await tool.run(context);
    const cpu = await meter();
    const counts = await countRequestsSince(stack.sourceLog, mark);
    const failures = await verifyTarget(tool, context, target, context.images);
    if (ran.exitCode !== 0) failures.unshift(`exit code ${ran.exitCode}: ${ran.errorTail}`);
    const sample: Sample = { seconds: ran.seconds, exitCode: ran.exitCode, counts, cpu, failures, ...(ran.note ? { note: ran.note } : {}) };
    let entry = series.find((s) => s.tool === tool.name && s.phase === phase && s.latencyMs === latencyMs);
    if (!entry) series.push((entry = { tool: tool.name, phase, latencyMs, samples: [] }));
    entry.samples.push(sample);
    const verdict = failures.length === 0 ? 'digests ✓' : `✗ ${failures.length} problem(s): ${failures.slice(0, 3).join('; ')}`;
    progress(
      `${label} ${tool.name} ${phase} at ${latencyMs} ms: ${sample.seconds.toFixed(2)} s, ${counts.manifestGets} manifest GETs, ${counts.manifestHeads} HEADs, ` +
        `${counts.blobGets} blob GETs, CPU ${cpu.tool.toFixed(1)}+${cpu.registries.toFixed(1)}+${cpu.proxy.toFixed(1)} s${ran.note ? ` [${ran.note}]` : ''}, ${verdict}`,
    );
  }
}

/** Puts the report between the markers of an existing file, or appends it, or creates the file. */
async function writeReport(file: string, report: string): Promise<void> {
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  const section = `${begin}\n${report}${end}\n`;
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  const at = existing?.indexOf(begin) ?? -1;
  const to = existing?.indexOf(end) ?? -1;
  if (existing !== undefined && at >= 0 && to > at) await writeFile(file, `${existing.slice(0, at)}${section}${existing.slice(to + end.length + 1)}`);
  else await writeFile(file, existing === undefined ? section : `${existing.trimEnd()}\n\n${section}`);
}

function commandLine(argv: readonly string[]): string {
  const quoted = argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`));
  return quoted.length === 0 ? 'npm run bench' : `npm run bench -- ${quoted.join(' ')}`;
}

async function bench(options: Options, argv: readonly string[]): Promise<number> {
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const work = join(STACK.dir, 'work');
  let proxy: DelayProxy | undefined;
  let ok = false;
  const cleanup = async () => {
    await proxy?.close();
    if (options.keepStack) return progress(`stack left running in ${STACK.dir} (bash scripts/stack.sh stop, with STACK_DIR=${STACK.dir})`);
    if (ok) await rm(work, { recursive: true, force: true });
    await stopStack(STACK, ok).catch((error: Error) => progress(`stopping the stack: ${error.message}`));
  };
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the stack`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    progress('building the CLI (npm run build → dist/mirror.mjs)');
    await execFileAsync('npm', ['run', '--silent', 'build'], { cwd: root });
    progress(`starting the stack in ${STACK.dir} (ports ${STACK.sourcePort}-${STACK.motoPort})`);
    const stack = await startStack(STACK);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });

    progress(`seeding ${options.images} images into ${stack.sourceRegistry}`);
    const images = await seedImages({ registry: stack.sourceRegistry }, { count: options.images, minLayerBytes: options.layerBytes[0], maxLayerBytes: options.layerBytes[1] });
    const seeded = {
      images: images.length,
      indexes: images.filter((image) => image.children.length > 0).length,
      docker: images.filter((image) => image.format === 'docker').length,
      layers: images.reduce((sum, image) => sum + image.layers * Math.max(1, image.children.length), 0),
      bytes: images.reduce((sum, image) => sum + image.bytes, 0),
    };

    const credentials = await writeCredentials(work, stack);
    const contextFor = async (sourceHost: string, label: string): Promise<RunContext> => ({
      root,
      work,
      imagesDir: await writeImagesTree(join(work, label), sourceHost, images),
      sourceHost,
      targetRegistry: stack.targetRegistry,
      targetPrefix: TARGET_PREFIX,
      ...credentials,
      concurrency: options.concurrency,
      lookupConcurrency: options.lookupConcurrency,
      images,
    });
    const direct = await contextFor(stack.sourceRegistry, 'direct');
    let near = direct;
    if (options.latencyMs > 0) {
      proxy = await startDelayProxy(stack.sourceRegistry, options.latencyMs, PROXY_PORT);
      progress(`latency proxy ${proxy.host} → ${stack.sourceRegistry}, ${options.latencyMs} ms per request`);
      near = await contextFor(proxy.host, 'latency');
    }

    const tools: Tool[] = [...TOOLS];
    if (options.whatIf) {
      for (const concurrency of WHAT_IF_CONCURRENCY) {
        if (concurrency !== options.concurrency) tools.push(imageMirrorTool({ name: `image-mirror, concurrency ${concurrency}`, command: MIRROR_BIN, concurrency }));
      }
      // Before issue 11 the HEADs went as many at once as the copies: what their own concurrency gains.
      if (options.lookupConcurrency !== options.concurrency) {
        tools.push(imageMirrorTool({ name: `image-mirror, lookup concurrency ${options.concurrency}`, command: MIRROR_BIN, lookupConcurrency: options.concurrency }));
      }
    }
    // The 0 ms runs interleave with the others, so that load from elsewhere on the machine falls on both alike.
    const series: Series[] = [];
    const floor = options.latencyMs > 0 ? options.floorRuns : 0;
    for (let run = 1; run <= Math.max(options.runs, floor); run += 1) {
      if (run <= options.runs) {
        for (const tool of tools) await measurePair(tool, near, stack, options.latencyMs, series, `[run ${run}/${options.runs}]`);
      }
      if (run <= floor) {
        for (const tool of [seedLoop, imageMirror]) await measurePair(tool, direct, stack, 0, series, `[0 ms run ${run}/${floor}]`);
      }
    }

    progress(`GitHub API calls of the scheduler for ${GITHUB_DOCKERFILES} Dockerfiles`);
    const github = await measureGitHubCalls(GITHUB_DOCKERFILES).catch((error: Error) => ({ error: error.message }));
    progress(options.skipPackage ? 'worker bundle (as already built)' : 'packaging the functions (npm run package)');
    const bundle = await measureWorkerBundle(root, work, !options.skipPackage);
    progress('worker cold initialisation');
    const coldInit = await measureColdInit(root, work, COLD_INIT_SAMPLES, bundle).catch((error: Error) => ({ error: error.message }));
    const cliStartSeconds = { bin: await measureCliStart(MIRROR_BIN, CLI_START_SAMPLES), npm: await measureCliStart(MIRROR_NPM, CLI_START_SAMPLES) };
    const hostile = await measureHostile(root, work, options.quick, progress);

    const results: BenchResults = {
      command: commandLine(argv),
      date: new Date().toISOString().slice(0, 10),
      machine: await describeMachine(),
      settings: {
        images: options.images,
        runs: options.runs,
        floorRuns: options.floorRuns,
        latencyMs: options.latencyMs,
        concurrency: options.concurrency,
        lookupConcurrency: options.lookupConcurrency,
        layerBytes: options.layerBytes,
      },
      seeded,
      series,
      github,
      bundle,
      coldInit,
      cliStartSeconds,
      hostile,
      loadAverage: [loadBefore, loadavg()[0] ?? 0],
      totalSeconds: (performance.now() - started) / 1000,
    };
    const report = renderReport(results);
    process.stdout.write(report);
    if (options.out) await writeReport(options.out, report);

    const verified = allVerified(results);
    if (!verified) {
      for (const s of series) {
        for (const sample of s.samples) for (const failure of sample.failures.slice(0, 5)) progress(`✗ ${s.tool} ${s.phase} at ${s.latencyMs} ms: ${failure}`);
      }
    }
    ok = verified;
    progress(`done in ${results.totalSeconds.toFixed(0)} s (median CLI start-up ${median(cliStartSeconds.bin).toFixed(2)} s bundled, ${median(cliStartSeconds.npm).toFixed(2)} s through npm and tsx)${verified ? '' : ': DIGEST CHECKS FAILED'}`);
    return verified ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  // The AWS SDK is pinned to a release that supports Node 20; its notice about later releases is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await bench(options, argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
