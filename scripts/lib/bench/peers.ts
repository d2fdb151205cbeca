import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { hostDirectory, type SeededImage } from './seed.ts';

/** The tools the benchmark compares: image-mirror, its peers, and variants of image-mirror (`image-mirror, …`). */
export type ToolName = 'image-mirror' | 'seed loop' | 'skopeo' | `image-mirror, ${string}`;

/** Everything a tool needs for one run against the current (fresh or already synced) target. */
export interface RunContext {
  /** The repository root, where `npm run mirror` works. */
  readonly root: string;
  /** A scratch directory for generated files. */
  readonly work: string;
  /** The images tree (its last path component is `images`, as the seed document's loop expects). */
  readonly imagesDir: string;
  /** The source registry as the Dockerfiles name it: the registry itself or the latency proxy in front of it. */
  readonly sourceHost: string;
  readonly targetRegistry: string;
  readonly targetPrefix: string;
  /** A directory holding a Docker `config.json` with the target's credentials (crane and skopeo read it). */
  readonly dockerConfigDir: string;
  /** The same credentials as `mirror sync --credentials` reads them. */
  readonly credentialsFile: string;
  readonly concurrency: number;
  /** image-mirror's `--lookup-concurrency`: HEADs at once, apart from copies (all of a no-op run in one wave at 32). */
  readonly lookupConcurrency: number;
  readonly images: readonly SeededImage[];
}

/** What one run of a tool took and said. */
export interface ToolRun {
  readonly seconds: number;
  readonly exitCode: number;
  /** The last lines of its error output, for a failure. */
  readonly errorTail: string;
  /** What the tool itself reported, when it reports anything (image-mirror's JSON summary). */
  readonly note?: string;
}

/** A tool under test: how to run it, and where it puts each image (what the digest check looks at). */
export interface Tool {
  readonly name: ToolName;
  run(context: RunContext): Promise<ToolRun>;
  targetOf(context: RunContext, image: SeededImage): { repository: string; reference: string };
}

interface Finished {
  readonly seconds: number;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion and times it, wall clock from spawn to exit. */
function timed(command: string, args: readonly string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        seconds: (performance.now() - started) / 1000,
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function targetBase(context: RunContext): string {
  return `${context.targetRegistry}/${context.targetPrefix}`;
}

export interface ImageMirrorVariant {
  readonly name: ToolName;
  /** The command that runs the CLI, before `sync …`, from the repository root. */
  readonly command: readonly [string, ...string[]];
  /** A fixed --concurrency instead of the benchmark's. */
  readonly concurrency?: number;
  /** A fixed --lookup-concurrency instead of the benchmark's. */
  readonly lookupConcurrency?: number;
  /** `--artifacts`; the CLI's default (signatures) when absent. */
  readonly artifacts?: 'none' | 'signatures' | 'all';
}

/** image-mirror's CLI: `mirror sync` with the same target names as the seed document's loop. */
export function imageMirrorTool(variant: ImageMirrorVariant): Tool {
  const [command, ...prefix] = variant.command;
  return {
    name: variant.name,
    async run(context) {
      const args = [...prefix, 'sync', '--images', context.imagesDir, '--target', targetBase(context), '--name-template', '{registry}/{repository}'];
      args.push('--credentials', context.credentialsFile, '--concurrency', String(variant.concurrency ?? context.concurrency));
      args.push('--lookup-concurrency', String(variant.lookupConcurrency ?? context.lookupConcurrency), '--json', '--quiet');
      if (variant.artifacts !== undefined) args.push('--artifacts', variant.artifacts);
      const done = await timed(command, args, { cwd: context.root, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
      let note: string;
      try {
        const report = JSON.parse(done.stdout) as { summary: Record<string, number>; results: { status: string; error: string | null }[] };
        const { copied = 0, skipped = 0, failed = 0, invalid = 0 } = report.summary;
        note = `${copied} copied, ${skipped} skipped${failed ? `, ${failed} failed` : ''}${invalid ? `, ${invalid} invalid` : ''}`;
        const firstError = report.results.find((result) => result.error !== null)?.error;
        if (firstError) note += ` (first error: ${firstError})`;
      } catch {
        note = 'no JSON report';
      }
      return { seconds: done.seconds, exitCode: done.exitCode, errorTail: tail(done.stderr), note };
    },
    targetOf(context, image) {
      return { repository: `${context.targetPrefix}/${hostDirectory(context.sourceHost)}/${image.repository}`, reference: image.tag };
    },
  };
}

/**
 * The `mirror` command as installed (package.json `bin`): the esbuild bundle `npm run build` makes, run by node. With
 * `--artifacts none` it copies what the loop and skopeo copy, images alone, so that the figures compare like with like.
 */
export const imageMirror = imageMirrorTool({ name: 'image-mirror', command: [process.execPath, 'dist/mirror.mjs'], artifacts: 'none' });

/** The same command as a user runs it, signatures on (the default): each image's `.sig` tag and referrers looked up by HEAD too. */
export const imageMirrorSignatures = imageMirrorTool({ name: 'image-mirror, signatures (default)', command: [process.execPath, 'dist/mirror.mjs'] });

/** The same CLI from its TypeScript sources, `npm run mirror --`: npm and tsx start first. */
export const imageMirrorFromSource = imageMirrorTool({ name: 'image-mirror, npm run mirror (tsx)', command: ['npm', 'run', '--silent', 'mirror', '--'], artifacts: 'none' });

// The seed document's loop as the issue quotes it: sequential, one `crane cp` per Dockerfile, the target named after the
// file's directory below images/ (so the tag is not carried over: crane writes `latest`). `set -euo pipefail` is ours,
// so that a failed copy fails the run.
const SEED_LOOP = `set -euo pipefail
cd "$1"
find images -name Dockerfile | while read -r dockerfile; do
  fqdn=$(awk '/^FROM/ {print $2; exit}' "$dockerfile")
  image=$(dirname "\${dockerfile#images/}")
  crane cp "$fqdn" "$mirror_registry/$image"
done
`;

/** The seed document's `find … | while read … crane cp` loop, run by bash. */
export const seedLoop: Tool = {
  name: 'seed loop',
  async run(context) {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: context.dockerConfigDir, DOCKER_CONFIG: context.dockerConfigDir, mirror_registry: targetBase(context) };
    const done = await timed('bash', ['-c', SEED_LOOP, 'seed-loop', join(context.imagesDir, '..')], { env });
    return { seconds: done.seconds, exitCode: done.exitCode, errorTail: tail(done.stderr) };
  },
  targetOf(context, image) {
    return { repository: `${context.targetPrefix}/${hostDirectory(context.sourceHost)}/${image.repository}`, reference: 'latest' };
  },
};

/** `skopeo sync --all --preserve-digests` from a YAML list of the source's repositories and tags. */
export const skopeoSync: Tool = {
  name: 'skopeo',
  async run(context) {
    const yamlFile = join(context.work, `skopeo-${hostDirectory(context.sourceHost)}.yaml`);
    const lines = [`${JSON.stringify(context.sourceHost)}:`, '  tls-verify: false', '  images:'];
    for (const image of context.images) lines.push(`    ${JSON.stringify(image.repository)}: [${JSON.stringify(image.tag)}]`);
    await writeFile(yamlFile, `${lines.join('\n')}\n`);
    const args = ['sync', '--all', '--preserve-digests', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false'];
    args.push('--dest-authfile', join(context.dockerConfigDir, 'config.json'), yamlFile, targetBase(context));
    const done = await timed('skopeo', args, { env: { ...process.env, HOME: context.dockerConfigDir } });
    return { seconds: done.seconds, exitCode: done.exitCode, errorTail: tail(done.stderr) };
  },
  // Without --scoped, skopeo sync keeps only the last path component: <target>/<name>:<tag>. With --scoped it would
  // keep the source host, whose ':port' no repository name may hold.
  targetOf(context, image) {
    return { repository: `${context.targetPrefix}/${posix.basename(image.repository)}`, reference: image.tag };
  },
};

export const TOOLS: readonly Tool[] = [imageMirror, imageMirrorSignatures, imageMirrorFromSource, seedLoop, skopeoSync];
