import { execFile, spawn } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { loadSchedulerConfig } from '../../../shared/config/scheduler-config.ts';
import { scheduleSync } from '../../../shared/sync/schedule.ts';
import { createSchedulerDeps } from '../../../shared/wiring/scheduler.ts';
import { startFakeGitHub } from '../../../test/support/fake-github.ts';

const run = promisify(execFile);

/** GitHub API calls one scheduler run makes, counted by the local GitHub stand-in. */
export interface GitHubCalls {
  readonly dockerfiles: number;
  readonly calls: number;
  readonly byEndpoint: Readonly<Record<string, number>>;
  readonly planned: number;
  /** 2 + ceil(n / 100): default branch, tree, one GraphQL query per 100 files. */
  readonly budget: number;
}

/** Runs the scheduler's own wiring (config from the environment, octokit, GitHubDockerfileSource) in dry-run mode over `count` Dockerfiles. */
export async function measureGitHubCalls(count: number): Promise<GitHubCalls> {
  const files: Record<string, string> = { 'README.md': '# images\n' };
  for (let i = 1; i <= count; i += 1) files[`images/docker.io/team-${i % 20}/app-${i}/Dockerfile`] = `FROM team-${i % 20}/app-${i}:1.${i}\n`;
  const github = await startFakeGitHub({ owner: 'octo', repo: 'images', files });
  try {
    const config = loadSchedulerConfig({
      GITHUB_REPOSITORY: 'octo/images',
      GITHUB_API_URL: github.url,
      TARGET: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror',
      WORKER_FUNCTION_NAME: 'image-mirror-bench-worker',
    });
    // GitHub's calls only: the orphan check would ask ECR, which is not what is measured here.
    const { orphans: _ecr, ...deps } = createSchedulerDeps(config);
    const quiet = { recordRun: () => undefined, recordOrphans: () => undefined, recordFailure: () => undefined };
    const summary = await scheduleSync({ dryRun: true }, { ...deps, recorder: quiet }, config);
    const byEndpoint: Record<string, number> = {};
    for (const request of github.requests) byEndpoint[request.endpoint] = (byEndpoint[request.endpoint] ?? 0) + 1;
    return { dockerfiles: count, calls: github.requests.length, byEndpoint, planned: summary.planned, budget: 2 + Math.ceil(count / 100) };
  } finally {
    await github.close();
  }
}

/** The packaged worker: its zip and the bundled handler inside it. */
export interface WorkerBundle {
  /** Why there are no figures, when there are none. */
  readonly unavailable?: string;
  readonly zip?: { readonly path: string; readonly bytes: number };
  /** The bundled handler: `file` is where it can be imported from (unpacked from the zip when there is one). */
  readonly handler?: { readonly path: string; readonly file: string; readonly bytes: number; readonly mapBytes?: number };
  readonly packageSeconds?: number;
}

const WORKER_ZIP = '.serverless/worker.zip';
const HANDLER_IN_ZIP = 'functions/worker/handler.cjs';
// serverless-esbuild's work folder: present during packaging, removed afterwards unless kept.
const WORKER_HANDLER = `.esbuild/.build/${HANDLER_IN_ZIP}`;

async function size(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

// Python's zipfile, since python3 is on every machine that runs the stack (moto needs it) and unzip may not be.
const UNZIP = 'import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2])\nprint(json.dumps({i.filename: i.file_size for i in z.infolist()}))';

/** Packages the functions (`npm run package`, offline) when asked, then measures the worker's zip and the bundled handler in it. */
export async function measureWorkerBundle(root: string, work: string, packageFirst: boolean): Promise<WorkerBundle> {
  let packageSeconds: number | undefined;
  if (packageFirst) {
    const started = performance.now();
    try {
      await run('npm', ['run', '--silent', 'package'], { cwd: root, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
      packageSeconds = (performance.now() - started) / 1000;
    } catch (error) {
      const failure = error as { stderr?: string; stdout?: string; message: string };
      const detail = (failure.stderr || failure.stdout || failure.message).trim().split('\n').slice(-3).join(' | ');
      return { unavailable: `npm run package failed: ${detail.slice(0, 300)}` };
    }
  }
  const zipBytes = await size(join(root, WORKER_ZIP));
  if (zipBytes !== undefined) {
    const unpacked = join(work, 'worker-zip');
    try {
      const { stdout } = await run('python3', ['-c', UNZIP, join(root, WORKER_ZIP), unpacked]);
      const sizes = JSON.parse(stdout) as Record<string, number>;
      const bytes = sizes[HANDLER_IN_ZIP];
      const mapBytes = sizes[`${HANDLER_IN_ZIP}.map`];
      return {
        zip: { path: WORKER_ZIP, bytes: zipBytes },
        ...(bytes === undefined ? {} : { handler: { path: `${WORKER_ZIP}:${HANDLER_IN_ZIP}`, file: join(unpacked, HANDLER_IN_ZIP), bytes, ...(mapBytes === undefined ? {} : { mapBytes }) } }),
        ...(packageSeconds === undefined ? {} : { packageSeconds }),
      };
    } catch (error) {
      return { zip: { path: WORKER_ZIP, bytes: zipBytes }, unavailable: `unpacking ${WORKER_ZIP}: ${(error as Error).message}` };
    }
  }
  const handlerBytes = await size(join(root, WORKER_HANDLER));
  if (handlerBytes === undefined) {
    return { unavailable: packageFirst ? `npm run package made neither ${WORKER_ZIP} nor ${WORKER_HANDLER}` : `not packaged in this run (--skip-package or --quick) and no ${WORKER_ZIP} from an earlier one` };
  }
  const mapBytes = await size(join(root, `${WORKER_HANDLER}.map`));
  return {
    handler: { path: WORKER_HANDLER, file: join(root, WORKER_HANDLER), bytes: handlerBytes, ...(mapBytes === undefined ? {} : { mapBytes }) },
    ...(packageSeconds === undefined ? {} : { packageSeconds }),
  };
}

/** How long a fresh Node process takes to import the worker handler module (what a Lambda cold start pays before the first event). */
export interface ColdInit {
  /** What was imported: the bundle, or the TypeScript source through tsx when there is no bundle. */
  readonly module: string;
  readonly via: 'bundle' | 'tsx';
  readonly samplesMs: readonly number[];
  /** The same with `NODE_OPTIONS=--enable-source-maps`, as serverless.yml deploys the functions (bundle only). */
  readonly sourceMapSamplesMs?: readonly number[];
}

const TIMER = `const started = performance.now();
await import(process.argv[2]);
process.stdout.write(String(performance.now() - started));
`;

/**
 * Times `import()` of the worker handler in `samples` fresh node processes, with the environment the worker needs:
 * the bundled handler when there is one, else the TypeScript source through tsx.
 */
export async function measureColdInit(root: string, work: string, samples: number, bundle: WorkerBundle): Promise<ColdInit> {
  const timer = join(work, 'cold-init.mjs');
  await writeFile(timer, TIMER);
  const hasBundle = bundle.handler !== undefined;
  const module = bundle.handler?.file ?? join(root, 'functions', 'worker', 'handler.ts');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    TARGET: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror',
    NAME_TEMPLATE: '{registry}/{repository}',
    CRANE_PATH: '/opt/bin/crane',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    POWERTOOLS_SERVICE_NAME: 'image-mirror',
    POWERTOOLS_METRICS_NAMESPACE: 'ImageMirror',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const once = async (nodeOptions: string | undefined): Promise<number> => {
    const args = hasBundle ? [timer, pathToFileURL(module).href] : ['--import', 'tsx', timer, pathToFileURL(module).href];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: root, env: { ...env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`importing ${module} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`))));
    });
    return Number(output);
  };
  const samplesMs: number[] = [];
  for (let i = 0; i < samples; i += 1) samplesMs.push(await once(undefined));
  if (!hasBundle) return { module: 'functions/worker/handler.ts', via: 'tsx', samplesMs };
  const sourceMapSamplesMs: number[] = [];
  for (let i = 0; i < samples; i += 1) sourceMapSamplesMs.push(await once('--enable-source-maps'));
  return { module: bundle.handler?.path ?? module, via: 'bundle', samplesMs, sourceMapSamplesMs };
}
