import { readFile, stat } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, describeError, MirrorError } from '../../shared/errors.ts';
import { parsePlatform } from '../../shared/image-ref/platform.ts';
import { parseTargetBase, type TargetBase, validateNameTemplate } from '../../shared/image-ref/target.ts';
import { buildPlan, type Plan } from '../../shared/plan/plan.ts';
import { normaliseRegistryHost, parseCredentials, type RegistryCredential } from '../../shared/registry/credentials.ts';
import { LocalDockerfileSource } from '../../shared/source/local-dir.ts';
import { planReport, syncAll } from '../../shared/sync/sync-all.ts';
import { type Report, reportFailed } from '../../shared/sync/report.ts';
import { createSyncDeps } from '../../shared/wiring/sync.ts';
import { progressLine, renderReport } from './render.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface CommonOptions {
  images: string;
  target?: string;
  json?: boolean;
  quiet?: boolean;
  allowRegistry: string[];
  nameTemplate?: string;
}

interface SyncOptions extends CommonOptions {
  target: string;
  dryRun?: boolean;
  concurrency: number;
  platform: string[];
  ecr?: boolean;
  credentials?: string;
  crane: string;
  timeout: number;
  kmsKey?: string;
}

/** A mistake in how the command was called: exit code 2. */
class UsageError extends MirrorError {}

const collect = (value: string, previous: string[]) => [...previous, value];

function positiveInt(name: string) {
  return (value: string) => {
    if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${name} must be a positive whole number, got "${value}"`);
    return Number(value);
  };
}

function commonOptions(command: Command): Command {
  return command
    .requiredOption('--images <dir>', 'directory whose first level is registry hosts, e.g. images/')
    .option('--allow-registry <host>', 'only mirror from this source registry (repeatable)', collect, [])
    .option('--name-template <template>', 'target repository layout below the target prefix; placeholders {registry} and {repository}', '{registry}/{repository}')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('-q, --quiet', 'no progress lines on stderr');
}

async function loadPlan(options: CommonOptions, target: TargetBase | undefined): Promise<Plan> {
  const dir = await stat(options.images).catch(() => undefined);
  if (!dir?.isDirectory()) throw new UsageError(`--images: "${options.images}" is not a directory`);
  if (options.nameTemplate) validateNameTemplate(options.nameTemplate);
  const allowRegistries = options.allowRegistry.map((host) => {
    try {
      return normaliseRegistryHost(host);
    } catch {
      throw new UsageError(`--allow-registry: "${host}" is not a registry host`);
    }
  });
  const entries = await new LocalDockerfileSource(options.images).list();
  return buildPlan(entries, { ...(target ? { target } : {}), allowRegistries, ...(options.nameTemplate ? { nameTemplate: options.nameTemplate } : {}) });
}

async function loadCredentials(file: string | undefined): Promise<ReadonlyMap<string, RegistryCredential>> {
  if (file === undefined) return new Map();
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--credentials: cannot read "${file}": ${error.code ?? error.message}`);
  });
  return parseCredentials(text, `--credentials ${file}`);
}

function emit(report: Report, kind: 'plan' | 'sync', json: boolean | undefined): number {
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${renderReport(report, kind)}\n`);
  return reportFailed(report) ? EXIT_FAILED : EXIT_OK;
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('mirror')
    .description('Mirror the images named by a tree of Dockerfiles into a private registry (ECR or any OCI registry).')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  commonOptions(program.command('plan'))
    .description('list the images the Dockerfiles name and where they would go; no registry is contacted')
    .option('--target <registry[/prefix]>', 'show target names under this registry and prefix')
    .action(async (options: CommonOptions) => {
      const target = options.target === undefined ? undefined : parseTargetBase(options.target);
      setExit(emit(planReport(await loadPlan(options, target)), 'plan', options.json));
    });

  commonOptions(program.command('sync'))
    .description('copy every image whose target digest differs from the source; unchanged images cost one HEAD')
    .requiredOption('--target <registry[/prefix]>', 'registry and optional repository prefix to mirror into')
    .option('--dry-run', 'compare digests but copy nothing and create no repository')
    .option('--concurrency <n>', 'images copied at once', positiveInt('--concurrency'), 4)
    .option('--platform <os/arch>', 'copy only these platforms out of multi-platform indexes (repeatable; default: the whole index, digest kept)', collect, [])
    .option('--ecr', 'treat the target as ECR (create repositories) even if its host is not *.dkr.ecr.*.amazonaws.com')
    .option('--kms-key <arn>', 'KMS key for new ECR repositories (default AES256)')
    .option('--credentials <file>', 'JSON keyed by registry host: {"docker.io": {"username": "…", "password": "…"}}')
    .addOption(new Option('--crane <path>', 'crane binary').env('CRANE').default('crane'))
    .option('--timeout <seconds>', 'time limit of one image copy', positiveInt('--timeout'), 600)
    .action(async (options: SyncOptions) => {
      const platforms = options.platform.map((text) => {
        try {
          return parsePlatform(text);
        } catch (error) {
          throw new UsageError(`--platform: ${describeError(error)}`);
        }
      });
      const target = parseTargetBase(options.target);
      const plan = await loadPlan(options, target);
      const deps = createSyncDeps({
        target,
        ecr: options.ecr === true,
        crane: options.crane,
        copyTimeoutMs: options.timeout * 1000,
        credentials: await loadCredentials(options.credentials),
        ...(options.kmsKey ? { kmsKey: options.kmsKey } : {}),
        ...(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
      });
      if (!options.quiet) process.stderr.write(`syncing ${plan.jobs.length} image(s) into ${options.target}${options.dryRun ? ' (dry run)' : ''}\n`);
      const report = await syncAll(plan, deps, {
        concurrency: options.concurrency,
        ...(options.dryRun ? { dryRun: true } : {}),
        platforms,
        ...(options.quiet ? {} : { onResult: (result, done, total) => process.stderr.write(`${progressLine(result, done, total)}\n`) }),
      });
      setExit(emit(report, 'sync', options.json));
    });
  return program;
}

/** Runs the CLI and returns its exit code: 0 all good, 1 an image failed or a file was invalid, 2 usage error. */
export async function main(argv: readonly string[]): Promise<number> {
  // The AWS SDK is pinned to a release that supports Node 20; its notice about later releases is noise for CLI users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let code = EXIT_OK;
  const program = buildProgram((value) => {
    code = value;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT_OK : EXIT_USAGE;
    }
    process.stderr.write(`mirror: ${describeError(error)}\n`);
    return error instanceof UsageError || error instanceof ConfigError || error instanceof MirrorError ? EXIT_USAGE : EXIT_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
