import { stat } from 'node:fs/promises';
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { wholeNumberIn } from '../../shared/config/env.ts';
import { MAX_PULL_RESERVE } from '../../shared/config/worker-config.ts';
import { DEFAULT_PULL_RESERVE } from '../../shared/plan/cost.ts';
import { ConfigError, describeError, GitSourceError, MirrorError, UsageError } from '../../shared/errors.ts';
import { normaliseRegistryHost } from '../../shared/image-ref/reference.ts';
import { parseTargetBase, type TargetBase, validateNameTemplate } from '../../shared/image-ref/target.ts';
import { parsePlatform } from '../../shared/oci/platform.ts';
import { diffReportFailed } from '../../shared/plan/diff-report.ts';
import { buildPlan, type Plan, type PlanOptions } from '../../shared/plan/plan.ts';
import { planReport, type Report, reportDeferred, reportFailed } from '../../shared/plan/report.ts';
import type { DockerfileSource } from '../../shared/ports.ts';
import { comparePlans } from '../../shared/sync/compare-plans.ts';
import { DEFAULT_LOOKUP_CONCURRENCY, syncAll } from '../../shared/sync/mirror-image.ts';
import { findOrphans } from '../../shared/sync/orphans.ts';
import { baseTree, credentialsFile, imagesDirectory, sourceLookups } from '../../shared/wiring/cli.ts';
import { guardLines, safeMessage, safeText } from '../../shared/safe-text.ts';
import { ecrRepositoryStore, isEcrTarget } from '../../shared/wiring/ecr.ts';
import { createSyncDeps, stopCopiesNow } from '../../shared/wiring/sync.ts';
import { addBotCommands } from './bots.ts';
import { NO_PREFIX_WARNING, renderOrphans } from './render-orphans.ts';
import { progressLine, renderReport } from './render.ts';
import { renderDiffMarkdown, renderDiffText } from './render-diff.ts';

/**
 * Exit codes: 0 all good, 1 an image failed or a file was invalid (`orphans`: orphaned repositories found), 2 a usage
 * error, 3 nothing failed but images were deferred to keep a source's pull budget (run again later), 128 + n stopped by
 * signal n.
 */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_DEFERRED = 3;
const EXIT_SIGNAL: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The signals that stop a sync cleanly: Ctrl-C, a cancelled CI job, `timeout`. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Where the CLI reads and writes: the process's streams, environment and directory, or a test's. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Calls `handler` on SIGINT and SIGTERM until the returned function is called; absent, nothing is listened for. */
  readonly onStopSignal?: (handler: (signal: StopSignal) => void) => () => void;
  /** Ends the process at once with this code: a second stop signal does not wait for the run to wind down. */
  readonly exit?: (code: number) => void;
}

/** The running process's streams, environment, directory and signals. */
function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    exit: (code) => process.exit(code),
    onStopSignal: (handler) => {
      const signals: StopSignal[] = ['SIGINT', 'SIGTERM'];
      for (const signal of signals) process.on(signal, handler);
      return () => {
        for (const signal of signals) process.off(signal, handler);
      };
    },
  };
}

/** No printed line may start a GitHub Actions workflow command, whatever text it carries. */
function guardedIo(io: CliIo): CliIo {
  return { ...io, stdout: (text) => io.stdout(guardLines(text)), stderr: (text) => io.stderr(guardLines(text)) };
}

/** Commander reducer for repeatable options. */
const collect = (value: string, previous: string[]) => [...previous, value];

/** Commander parser for a whole number from `min` (1 unless said) to `max`, naming the option and the range in its error. */
function wholeNumber(name: string, max: number, min: 0 | 1 = 1) {
  return (value: string) => {
    const number = wholeNumberIn(value, max, min);
    if (number === undefined) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got "${safeText(value, 40)}"`);
    return number;
  };
}

/** More copies at once than this gains nothing (each is a crane process) and trips registries' rate limits. */
const MAX_CONCURRENCY = 64;
/** Look-ups are HEADs, light on both sides; more at once than this only queues in the sockets. */
const MAX_LOOKUP_CONCURRENCY = 256;
/** A day: no single image copy should take longer; Node's timers cannot hold more than 24.8 days anyway. */
const MAX_TIMEOUT_SECONDS = 86_400;

interface CommonOptions {
  readonly images: string;
  readonly allowRegistry: string[];
  readonly nameTemplate: string;
}

function commonOptions<Args extends unknown[]>(command: Command<Args>) {
  return command
    .requiredOption('--images <dir>', 'directory whose first level is registry hosts, e.g. images/')
    .option('--allow-registry <host>', 'only mirror from this source registry (repeatable)', collect, [] as string[])
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
    } catch (error) {
      // The reason names the host already: `"myregistry" is not a registry host: crane reads …`.
      throw new UsageError(`--allow-registry: ${describeError(error)}`);
    }
  });
  return { ...(target ? { target } : {}), allowRegistries, ...(options.nameTemplate ? { nameTemplate: options.nameTemplate } : {}) };
}

async function loadPlan(options: CommonOptions, target: TargetBase | undefined): Promise<Plan> {
  const planOptions = await planOptionsOf(options, target);
  return buildPlan(await imagesDirectory(options.images).list(), planOptions);
}

type Format = 'text' | 'markdown' | 'json';

function formatOf(options: { json?: true; format?: Format; base?: string; credentials?: string }): Format {
  if (options.json && options.format !== undefined && options.format !== 'json') throw new UsageError(`--json and --format ${options.format} exclude each other`);
  const format = options.format ?? (options.json ? 'json' : 'text');
  if (options.base === undefined && format === 'markdown') throw new UsageError('--format markdown needs --base: it describes what a change does');
  if (options.base === undefined && options.credentials !== undefined) throw new UsageError('--credentials needs --base: a plain plan contacts no registry');
  return format;
}

async function baseSource(base: string, images: string): Promise<DockerfileSource> {
  try {
    return await baseTree(base, images);
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    throw new UsageError(`--base: "${base}" is neither a directory nor a git ref: ${describeError(error)}`, { cause: error });
  }
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const emit = (report: Report, kind: 'plan' | 'sync', json: boolean | undefined) => {
    io.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : `${renderReport(report, kind)}\n`);
    setExit(reportFailed(report) ? EXIT_FAILED : reportDeferred(report) ? EXIT_DEFERRED : EXIT_OK);
  };
  const program = new Command('mirror')
    .description('Mirror the images named by a tree of Dockerfiles into a private registry (ECR or any OCI registry).')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  commonOptions(program.command('plan'))
    .description('list the images the Dockerfiles name and where they would go (no registry is contacted); with --base, what a change adds, changes and removes, and what syncing it costs')
    .option('--target <registry[/prefix]>', 'show target names under this registry and prefix')
    .option('--base <dir|git-ref>', 'compare with this tree: a directory if one exists at that path, else a git ref (origin/main, HEAD~1) of the repository holding --images')
    .addOption(new Option('--format <format>', 'output: a table (text), a pull-request comment (markdown, needs --base) or one JSON document (json, same as --json)').choices(['text', 'markdown', 'json'] as const))
    .option('--no-cost', 'with --base: do not look up platforms and pull costs (no registry request at all)')
    .option('--pull-reserve <n>', `with --base: the pulls of a source's budget the sync keeps, to tell whether the change fits (0-${MAX_PULL_RESERVE})`, wholeNumber('--pull-reserve', MAX_PULL_RESERVE, 0), DEFAULT_PULL_RESERVE)
    .option('--credentials <file>', 'with --base: source registry logins for the cost lookups, JSON keyed by registry host')
    .action(async (options) => {
      const format = formatOf(options);
      const target = options.target === undefined ? undefined : parseTargetBase(options.target);
      if (options.base === undefined) {
        emit(planReport(await loadPlan(options, target)), 'plan', format === 'json');
        return;
      }
      const credentials = await credentialsFile(options.credentials);
      const planOptions = await planOptionsOf(options, target);
      const base = await baseSource(options.base, options.images);
      // Only source registries are read, with the --credentials logins; no target, no crane.
      const report = await comparePlans(
        { base, next: imagesDirectory(options.images), ...(options.cost ? { registry: sourceLookups(credentials) } : {}) },
        { ...planOptions, baseLabel: options.base, pullReserve: options.pullReserve },
      );
      io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderDiffMarkdown(report) : renderDiffText(report));
      setExit(diffReportFailed(report) ? EXIT_FAILED : EXIT_OK);
    });

  commonOptions(program.command('sync'))
    .description('copy every image whose target digest differs from the source; unchanged images cost one HEAD')
    .requiredOption('--target <registry[/prefix]>', 'registry and optional repository prefix to mirror into')
    .option('--dry-run', 'compare digests but copy nothing and create no repository')
    .option('--concurrency <n>', `images copied at once (1-${MAX_CONCURRENCY})`, wholeNumber('--concurrency', MAX_CONCURRENCY), 4)
    .option('--lookup-concurrency <n>', `images looked up (HEAD on source and target, free on Docker Hub) at once (1-${MAX_LOOKUP_CONCURRENCY})`, wholeNumber('--lookup-concurrency', MAX_LOOKUP_CONCURRENCY), DEFAULT_LOOKUP_CONCURRENCY)
    .option('--pull-reserve <n>', `pulls of a source's budget (Docker Hub: 100 or 200 per 6 h) never spent, kept for the clusters still pulling from it; an image that would go below is deferred (0-${MAX_PULL_RESERVE})`, wholeNumber('--pull-reserve', MAX_PULL_RESERVE, 0), DEFAULT_PULL_RESERVE)
    .option('--platform <os/arch>', 'copy only these platforms out of multi-platform indexes (repeatable; default: the whole index, digest kept)', collect, [] as string[])
    .option('--ecr', 'treat the target as ECR (create repositories, put back their drifted settings) even if its host is not *.dkr.ecr.*.amazonaws.com')
    .option('--kms-key <arn>', 'KMS key of ECR repositories (default AES256): new ones get it, an existing one encrypted otherwise is reported')
    .option('--credentials <file>', 'JSON keyed by registry host: {"docker.io": {"username": "…", "password": "…"}}')
    .option('--crane <path>', 'crane binary (env: CRANE)', io.env.CRANE ?? 'crane')
    .option('--timeout <seconds>', `time limit of one image copy (1-${MAX_TIMEOUT_SECONDS})`, wholeNumber('--timeout', MAX_TIMEOUT_SECONDS), 600)
    .action(async (options) => {
      const platforms = options.platform.map((text) => {
        try {
          return parsePlatform(text);
        } catch (error) {
          throw new UsageError(`--platform: ${describeError(error)}`);
        }
      });
      const target = parseTargetBase(options.target);
      const plan = await loadPlan(options, target);
      // Ctrl-C, a cancelled CI job, `timeout`: start nothing more, stop crane, remove its credentials, report what was done.
      const stop = new AbortController();
      let stoppedBy: StopSignal | undefined;
      const unlisten = io.onStopSignal?.((signal) => {
        if (stoppedBy !== undefined) {
          // A second signal: the user will not wait for anything, not even a call that cannot be aborted.
          stopCopiesNow();
          io.stderr(`mirror: ${signal} again: stopped at once, crane ended and its credentials removed; no report\n`);
          io.exit?.(EXIT_SIGNAL[signal]);
          return;
        }
        io.stderr(`mirror: ${signal}: stopping; images not finished are reported as interrupted (again to stop at once)\n`);
        stoppedBy = signal;
        stop.abort();
      });
      const deps = createSyncDeps({
        signal: stop.signal,
        target,
        ecr: options.ecr === true,
        crane: options.crane,
        copyTimeoutMs: options.timeout * 1000,
        credentials: await credentialsFile(options.credentials),
        ...(options.kmsKey ? { kmsKey: options.kmsKey } : {}),
        ...(io.env.AWS_REGION ? { region: io.env.AWS_REGION } : {}),
      });
      if (!options.quiet) io.stderr(`syncing ${plan.jobs.length} image(s) into ${options.target}${options.dryRun ? ' (dry run)' : ''}\n`);
      let report: Report;
      try {
        report = await syncAll(plan, deps, {
          concurrency: options.concurrency,
          lookupConcurrency: options.lookupConcurrency,
          pullReserve: options.pullReserve,
          ...(options.dryRun ? { dryRun: true } : {}),
          platforms,
          signal: stop.signal,
          ...(options.quiet ? {} : { onResult: (result, done, total) => io.stderr(`${progressLine(result, done, total)}\n`) }),
        });
      } finally {
        unlisten?.();
      }
      emit(report, 'sync', options.json);
      if (stoppedBy !== undefined) setExit(EXIT_SIGNAL[stoppedBy]);
    });

  commonOptions(program.command('orphans'))
    .description('list the ECR repositories under the target prefix, tagged managed-by=image-mirror, that no Dockerfile names any more (nothing is deleted)')
    .requiredOption('--target <registry[/prefix]>', 'the ECR registry and prefix the sync mirrors into')
    .option('--ecr', 'treat the target as ECR even if its host is not *.dkr.ecr.*.amazonaws.com')
    .option('--region <region>', 'AWS region, where the target host does not tell it (env: AWS_REGION)')
    .addOption(new Option('--format <format>', 'output: a table (text) or one JSON document (json, same as --json)').choices(['text', 'json'] as const))
    .addHelpText(
      'after',
      [
        '',
        'Give the same --images, --name-template and --allow-registry as the sync: the repositories it would mirror into',
        'are the ones kept. A repository whose source directory (<registry>/<repository>/) holds an invalid Dockerfile is',
        'not called orphaned while the file is broken. A managed repository is this configuration\'s only when its name is',
        'the one --target and --name-template give the source its `source` tag names; the others under the prefix (another',
        'deployment\'s) are counted and left out. Two deployments with the same prefix and name template cannot be told',
        'apart: give each its own prefix.',
        '',
        'Exit codes: 0 no orphans, 1 orphans found, 2 usage or setup error (a target that is not ECR, ECR refusing).',
        '',
        'Example:',
        '  mirror orphans --images images/ --target 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror',
        '  aws ecr delete-repository --repository-name mirror/docker.io/library/old --force   # once nothing pulls it',
      ].join('\n'),
    )
    .action(async (options) => {
      const format = formatOf(options);
      const target = parseTargetBase(options.target);
      if (!isEcrTarget({ target, ecr: options.ecr === true })) {
        throw new UsageError(`--target: "${safeText(options.target)}" is not an ECR registry (*.dkr.ecr.<region>.amazonaws.com): only ECR repositories are tagged and listed; give --ecr for ECR under another name`);
      }
      const plan = await loadPlan(options, target);
      const region = options.region ?? io.env.AWS_REGION;
      const store = ecrRepositoryStore({ target, ...(region ? { region } : {}) });
      // The text report opens with the warning; a JSON document has no place for it.
      if (target.prefix === '' && format === 'json') io.stderr(`mirror: warning: ${NO_PREFIX_WARNING}\n`);
      // The template the plan used: an empty --name-template means the default there, and must here too.
      const report = await findOrphans(plan, store, { target, ...(options.nameTemplate ? { nameTemplate: options.nameTemplate } : {}) });
      io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderOrphans(report, target));
      setExit(report.orphans.length > 0 ? EXIT_FAILED : EXIT_OK);
    });

  addBotCommands(program, io, (ok) => setExit(ok ? EXIT_OK : EXIT_FAILED));
  return program;
}

/**
 * Runs the `mirror` command with these arguments (without node and the script) and returns its exit code:
 * 0 all good, 1 an image failed or a file was invalid (or `orphans` found some), 2 a usage error, 3 images deferred for a source's pull budget
 * (nothing failed), 130 or 143 a sync stopped by SIGINT or SIGTERM.
 * Nothing is written but through `io`.
 */
export async function main(argv: readonly string[], unguardedIo: CliIo = processIo()): Promise<number> {
  const io = guardedIo(unguardedIo);
  let code = EXIT_OK;
  const program = buildProgram(io, (value) => {
    code = value;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT_OK : EXIT_USAGE;
    }
    io.stderr(`mirror: ${safeMessage(describeError(error))}\n`);
    return error instanceof UsageError || error instanceof ConfigError || error instanceof MirrorError ? EXIT_USAGE : EXIT_FAILED;
  }
}
