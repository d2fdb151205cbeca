import { readFile, stat } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, describeError, MirrorError, UsageError } from '../../shared/errors.ts';
import { parsePlatform } from '../../shared/oci/platform.ts';
import { parseTargetBase, type TargetBase, validateNameTemplate } from '../../shared/image-ref/target.ts';
import { buildPlan, type Plan, type PlanOptions } from '../../shared/plan/plan.ts';
import { diffReportFailed } from '../../shared/plan/diff-report.ts';
import { normaliseRegistryHost } from '../../shared/image-ref/reference.ts';
import { parseCredentials } from '../../shared/registry/credentials.ts';
import { LocalDockerfileSource } from '../../shared/source/local-dir.ts';
import { syncAll } from '../../shared/sync/mirror-image.ts';
import { planReport, type Report, reportFailed } from '../../shared/plan/report.ts';
import { createSyncDeps } from '../../shared/wiring/sync.ts';
import { addBotCommands } from './bots.ts';
import { planAgainstBase } from './plan-diff.ts';
import { progressLine, renderReport } from './render.ts';
import { renderDiffMarkdown, renderDiffText } from './render-diff.ts';
import { collect, EXIT_FAILED, EXIT_OK, EXIT_USAGE, positiveInt } from './usage.ts';
import type { RegistryCredential } from '../../shared/ports.ts';

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

interface PlanCommandOptions extends CommonOptions {
  base?: string;
  format?: 'text' | 'markdown' | 'json';
  cost: boolean;
  credentials?: string;
}

function commonOptions(command: Command): Command {
  return command
    .requiredOption('--images <dir>', 'directory whose first level is registry hosts, e.g. images/')
    .option('--allow-registry <host>', 'only mirror from this source registry (repeatable)', collect, [])
    .option('--name-template <template>', 'target repository layout below the target prefix; placeholders {registry} and {repository}', '{registry}/{repository}')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('-q, --quiet', 'no progress lines on stderr');
}

async function planOptionsOf(options: CommonOptions, target: TargetBase | undefined): Promise<PlanOptions> {
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
  return { ...(target ? { target } : {}), allowRegistries, ...(options.nameTemplate ? { nameTemplate: options.nameTemplate } : {}) };
}

async function loadPlan(options: CommonOptions, target: TargetBase | undefined): Promise<Plan> {
  const planOptions = await planOptionsOf(options, target);
  return buildPlan(await new LocalDockerfileSource(options.images).list(), planOptions);
}

function formatOf(options: PlanCommandOptions): 'text' | 'markdown' | 'json' {
  if (options.json && options.format !== undefined && options.format !== 'json') throw new UsageError(`--json and --format ${options.format} exclude each other`);
  const format = options.format ?? (options.json ? 'json' : 'text');
  if (options.base === undefined && format === 'markdown') throw new UsageError('--format markdown needs --base: it describes what a change does');
  if (options.base === undefined && options.credentials !== undefined) throw new UsageError('--credentials needs --base: a plain plan contacts no registry');
  return format;
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
    .description('list the images the Dockerfiles name and where they would go (no registry is contacted); with --base, what a change adds, changes and removes, and what syncing it costs')
    .option('--target <registry[/prefix]>', 'show target names under this registry and prefix')
    .option('--base <dir|git-ref>', 'compare with this tree: a directory if one exists at that path, else a git ref (origin/main, HEAD~1) of the repository holding --images')
    .addOption(new Option('--format <format>', 'output: a table (text), a pull-request comment (markdown, needs --base) or one JSON document (json, same as --json)').choices(['text', 'markdown', 'json']))
    .option('--no-cost', 'with --base: do not look up platforms and pull costs (no registry request at all)')
    .option('--credentials <file>', 'with --base: source registry logins for the cost lookups, JSON keyed by registry host')
    .action(async (options: PlanCommandOptions) => {
      const format = formatOf(options);
      const target = options.target === undefined ? undefined : parseTargetBase(options.target);
      if (options.base === undefined) {
        setExit(emit(planReport(await loadPlan(options, target)), 'plan', format === 'json'));
        return;
      }
      const report = await planAgainstBase({
        images: options.images,
        base: options.base,
        cost: options.cost,
        credentials: await loadCredentials(options.credentials),
        planOptions: await planOptionsOf(options, target),
      });
      process.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderDiffMarkdown(report) : renderDiffText(report));
      setExit(diffReportFailed(report) ? EXIT_FAILED : EXIT_OK);
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

  addBotCommands(program, setExit);
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
