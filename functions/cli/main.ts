import { appendFile, stat } from 'node:fs/promises';
import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { wholeNumberIn } from '../../shared/config/env.ts';
import { MAX_PULL_RESERVE } from '../../shared/config/worker-config.ts';
import { DEFAULT_PULL_RESERVE } from '../../shared/plan/cost.ts';
import { ConfigError, describeError, GitSourceError, isInterruption, MirrorError, UsageError } from '../../shared/errors.ts';
import { normaliseRegistryHost, parseImageReference } from '../../shared/image-ref/reference.ts';
import { parseTargetBase, type TargetBase, validateNameTemplate } from '../../shared/image-ref/target.ts';
import { parsePlatform } from '../../shared/oci/platform.ts';
import { diffReportFailed } from '../../shared/plan/diff-report.ts';
import { buildPlan, type Plan, type PlanOptions } from '../../shared/plan/plan.ts';
import { planReport, type Report, reportDeferred, reportFailed } from '../../shared/plan/report.ts';
import { selectJobs } from '../../shared/plan/select.ts';
import { POLICY_FILE, readPolicy, type SignaturePolicy } from '../../shared/plan/policy.ts';
import { applyPolicy, withRules } from '../../shared/plan/policy-plan.ts';
import { ARTIFACT_MODES, DEFAULT_ARTIFACT_MODE, type DockerfileSource } from '../../shared/ports.ts';
import { comparePlans } from '../../shared/sync/compare-plans.ts';
import { DEFAULT_LOOKUP_CONCURRENCY, syncAll } from '../../shared/sync/mirror-image.ts';
import { findOrphans } from '../../shared/sync/orphans.ts';
import { preflightSync } from '../../shared/sync/preflight.ts';
import { baseTree, imagesDirectory, policyFilesOf, registryLogins, signOffsOf, sourceLookups } from '../../shared/wiring/cli.ts';
import { runGate } from '../../shared/findings/gate.ts';
import { DEFAULT_GATE_SEVERITIES, parseSeverities } from '../../shared/findings/vulnerabilities.ts';
import { readTrivyReports } from './gate.ts';
import { renderGateText } from './render-gate.ts';
import { renderGateMarkdown } from './render-gate-markdown.ts';
import { guardLines, safeMessage, safeText } from '../../shared/safe-text.ts';
import { ecrRepositoryStore, isEcrTarget } from '../../shared/wiring/ecr.ts';
import { preflightChecks } from '../../shared/wiring/preflight.ts';
import { createSyncDeps, stopCopiesNow } from '../../shared/wiring/sync.ts';
import { addBotCommands } from './bots.ts';
import { NO_PREFIX_WARNING, renderOrphans } from './render-orphans.ts';
import { createProgress } from './progress.ts';
import { outputWidth, renderReport, type ReportKind } from './render.ts';
import { renderDiffMarkdown, renderDiffText } from './render-diff.ts';
import { renderOrphansMarkdown, renderReportMarkdown } from './render-markdown.ts';
import { botHelp, GATE_HELP, ORPHANS_HELP, PLAN_HELP, PROGRAM_HELP, SYNC_HELP } from './help.ts';
import packageJson from '../../package.json' with { type: 'json' };

/**
 * Exit codes: 0 all good, 1 an image failed or a file was invalid (`orphans`: orphaned repositories found; `gate`: a
 * finding not signed off), 2 a usage error, 3 nothing failed but images were deferred to keep a source's pull budget
 * (run again later), 128 + n stopped by signal n.
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
  /** True when stdout is a terminal: the table is cut to its width. */
  readonly stdoutIsTTY?: boolean;
  /** True when stderr is a terminal: progress is one line rewritten in place. */
  readonly stderrIsTTY?: boolean;
  /** The terminal's width in characters, when a stream is one. */
  readonly columns?: number;
}

/** The running process's streams, environment, directory and signals. */
function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    exit: (code) => process.exit(code),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    ...(process.stdout.columns || process.stderr.columns ? { columns: process.stdout.columns || process.stderr.columns } : {}),
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

/** Commander reducer for a repeatable option that has no default: a mandatory one, whose help shows none. */
const collectRequired = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Commander parser for a whole number from `min` (1 unless said) to `max`, naming the option and the range in its error. */
function wholeNumber(name: string, max: number, min: 0 | 1 = 1) {
  return (value: string) => {
    const number = wholeNumberIn(value, max, min);
    if (number === undefined) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got "${safeText(value, 40)}"`);
    return number;
  };
}

/** Commander reducer for a repeatable image option: each value is parsed now, so that a typo fails before any work. */
function collectImages(name: string) {
  return (value: string, previous: string[]) => {
    try {
      parseImageReference(value);
    } catch (error) {
      // The reason names the value already: `invalid image reference "Bad:Ref": …`.
      throw new UsageError(`${name}: ${describeError(error)}`);
    }
    return [...previous, value];
  };
}

/** A KMS key id: a UUID, or `mrk-` and 32 hex digits for a multi-Region key. */
const KMS_KEY_ID = '(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})';
/** An alias name: `alias/` and at most 250 more characters of letters, digits, `/`, `_` and `-`, as KMS allows. */
const KMS_ALIAS = 'alias/[A-Za-z0-9/_-]{1,250}';
/** What ECR's CreateRepository takes as `kmsKey`: a key's id or ARN, an alias's name or ARN, in any AWS partition. */
const KMS_KEY = new RegExp(`^(?:${KMS_KEY_ID}|${KMS_ALIAS}|arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\\d{12}:(?:key/${KMS_KEY_ID}|${KMS_ALIAS}))$`);

/** Commander parser for --kms-key: a value ECR would refuse at the first new repository is refused before any work. */
function kmsKey(value: string): string {
  if (KMS_KEY.test(value)) return value;
  throw new UsageError(
    `--kms-key: "${safeText(value, 80)}" is not a KMS key; give its ARN (arn:aws:kms:<region>:<account>:key/<key id>), its id ` +
      '(1234abcd-12ab-34cd-56ef-1234567890ab, or mrk-… for a multi-Region key), an alias (alias/<name>) or an alias ARN (arn:aws:kms:<region>:<account>:alias/<name>)',
  );
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

/** The options of plan, sync and orphans: the tree, how it is read and named, and where the report goes. */
function commonOptions<Args extends unknown[]>(command: Command<Args>) {
  return command
    .requiredOption('--images <dir>', 'directory whose first level is registry hosts, e.g. images/')
    .addOption(new Option('--allow-registry <host>', 'only mirror from this source registry (repeatable)').argParser(collect).default([] as string[], 'every registry'))
    .option('--name-template <template>', 'target repository layout below the target prefix; placeholders {registry} and {repository}', '{registry}/{repository}')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('--summary-file <file>', 'also append the report in markdown to this file (e.g. $GITHUB_STEP_SUMMARY), even when images fail');
}

/** `--quiet` as plan and orphans take it: accepted, as before, but not offered, for they print no progress to quieten. */
function hiddenQuiet() {
  return new Option('-q, --quiet').hideHelp();
}

/** Commander option for --artifacts, on plan and sync: which signatures, attestations and SBOMs travel with each image. */
function artifactsOption(what: string) {
  return new Option('--artifacts <mode>', what).choices(ARTIFACT_MODES).default(DEFAULT_ARTIFACT_MODE);
}

/** Commander option for --policy, on plan and sync. */
function policyOption() {
  return new Option('--policy <file>', `the signature policy: which images must carry whose signature before they are mirrored (default: <images>/${POLICY_FILE} when it exists)`);
}

/**
 * The signature policy of the run, read whole before any registry is asked: `--policy`'s file, else the images root's
 * own when it has one (none: every image mirrored as before). A named file that does not exist is a usage error, and
 * so is a policy that cannot be read as one (PolicyFileError): a half-read policy must never let an image through.
 */
async function loadPolicy(images: string, policyFile: string | undefined): Promise<SignaturePolicy | undefined> {
  if (policyFile !== undefined) {
    const found = await stat(policyFile).catch(() => undefined);
    if (!found?.isFile()) throw new UsageError(`--policy: "${safeText(policyFile)}" is not a file`);
  }
  return readPolicy(policyFilesOf(images, policyFile), policyFile ?? POLICY_FILE);
}

/** Commander option for --only, repeatable, on plan and sync. */
function onlyOption() {
  return new Option('--only <image>', 'only this image: without tag or digest, every tag of that repository (repeatable; see below)').argParser(collectImages('--only')).default([] as string[], 'every image');
}

/**
 * The plan narrowed to the `--only` images (every image without the option). An entry that matches none is warned
 * about; when no entry matches any image, nothing would run, and a typo must not pass for a green run: a usage error.
 * The tree's invalid files stay in the plan: they are reported whatever is selected.
 */
function planOfOnly(plan: Plan, only: readonly string[], warn: (text: string) => void): Plan {
  if (only.length === 0) return plan;
  const { jobs, unmatched } = selectJobs(plan.jobs, only);
  if (jobs.length === 0) {
    const invalid = plan.errors.length === 0 ? '' : ` (the tree has invalid Dockerfiles, which name no image: see mirror plan)`;
    throw new UsageError(`--only: no image of the tree matches ${only.map((entry) => `"${safeText(entry)}"`).join(', ')}${invalid}; nothing to do`);
  }
  for (const entry of unmatched) warn(`--only "${entry}" matches no image of the tree; the others go on`);
  return { ...plan, jobs };
}

/** Appends a report in markdown to --summary-file: the file is made if missing, and what it holds is kept. */
async function appendSummary(file: string, markdown: string): Promise<void> {
  // A blank line first: a heading right under the previous step's table would otherwise join it.
  await appendFile(file, `\n${markdown}`);
}

/** Fails before any work when --summary-file cannot be appended to (a missing directory), not after a long sync. */
async function checkSummaryFile(file: string | undefined): Promise<void> {
  if (file === undefined) return;
  await appendFile(file, '').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--summary-file: cannot append to "${file}": ${error.code ?? error.message}`);
  });
}

/** Fails before any work when --images is no directory: a typo must not read as an empty tree. */
async function checkImagesDirectory(images: string): Promise<void> {
  const dir = await stat(images).catch(() => undefined);
  if (!dir?.isDirectory()) throw new UsageError(`--images: "${images}" is not a directory`);
}

async function planOptionsOf(options: CommonOptions, target: TargetBase | undefined): Promise<PlanOptions> {
  await checkImagesDirectory(options.images);
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

function formatOf(options: { json?: true; format?: Format }): Format {
  if (options.json && options.format !== undefined && options.format !== 'json') throw new UsageError(`--json and --format ${options.format} exclude each other`);
  return options.format ?? (options.json ? 'json' : 'text');
}

async function baseSource(base: string, images: string): Promise<DockerfileSource> {
  try {
    return await baseTree(base, images);
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    throw new UsageError(`--base: "${base}" is neither a directory nor a git ref: ${describeError(error)}`, { cause: error });
  }
}

/** A command as a person would type it: each argument as it is, or in single quotes where a shell would split or expand it. */
function displayCommand(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  // What the engine warns of and goes on (a Docker credential helper failing): one line each, made safe.
  const warning = (message: string) => `mirror: warning: ${safeMessage(message)}\n`;
  /** Appends to --summary-file; failing now (a full disk) is said, and fails the run: the summary is what CI shows. */
  const summarise = async (file: string | undefined, markdown: () => string) => {
    if (file === undefined) return;
    try {
      await appendSummary(file, markdown());
    } catch (error) {
      io.stderr(`mirror: --summary-file: appending the report to "${safeText(file)}": ${safeMessage(describeError(error))}\n`);
      setExit(EXIT_FAILED);
    }
  };
  /** Prints a plan's or a sync's report in the format asked for, sets the exit code, and appends it to --summary-file. */
  const emit = async (report: Report, kind: ReportKind, format: Format, summaryFile: string | undefined) => {
    if (format === 'json') io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else if (format === 'markdown') io.stdout(renderReportMarkdown(report, kind));
    else io.stdout(`${renderReport(report, kind, { columns: outputWidth(io.env, io.stdoutIsTTY, io.columns) })}\n`);
    setExit(reportFailed(report) ? EXIT_FAILED : reportDeferred(report) ? EXIT_DEFERRED : EXIT_OK);
    await summarise(summaryFile, () => renderReportMarkdown(report, kind));
  };
  const program = new Command('mirror')
    .description('Mirror the images named by a tree of Dockerfiles into a private registry (ECR or any OCI registry).')
    .version(packageJson.version, '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', PROGRAM_HELP);

  commonOptions(program.command('plan'))
    .description('list the images the Dockerfiles name and where they would go (no registry is contacted); with --base, what a change adds, changes and removes, and what syncing it costs')
    .option('--target <registry[/prefix]>', 'show target names under this registry and prefix')
    .option('--base <dir|git-ref>', 'compare with this tree: a directory if one exists at that path, else a git ref (origin/main, HEAD~1) of the repository holding --images')
    .addOption(new Option('--format <format>', 'output: a table (text), markdown (with --base: a pull-request comment) or one JSON document (json, same as --json)').choices(['text', 'markdown', 'json'] as const))
    .addOption(onlyOption())
    .addOption(hiddenQuiet())
    .option('--no-cost', 'with --base: do not look up platforms and pull costs (no registry request at all)')
    .option('--pull-reserve <n>', `with --base: the pulls of a source's budget the sync keeps, to tell whether the change fits (0-${MAX_PULL_RESERVE})`, wholeNumber('--pull-reserve', MAX_PULL_RESERVE, 0), DEFAULT_PULL_RESERVE)
    .option('--credentials <file>', 'with --base: source registry logins for the cost lookups, JSON keyed by registry host')
    .addOption(artifactsOption('with --base: the artifacts whose pulls are counted with each image: none, signatures (cosign .sig tags, Sigstore bundles and Notary signatures among the referrers) or all (also attestations, SBOMs, every referrer)'))
    .addOption(policyOption())
    .addHelpText('after', PLAN_HELP)
    .action(async (options) => {
      const format = formatOf(options);
      if (options.base === undefined && options.credentials !== undefined) throw new UsageError('--credentials needs --base: a plain plan contacts no registry');
      if (options.base !== undefined && options.only.length > 0) throw new UsageError('--only does not apply with --base: a change is compared whole');
      const target = options.target === undefined ? undefined : parseTargetBase(options.target);
      await checkSummaryFile(options.summaryFile);
      await checkImagesDirectory(options.images);
      // A broken policy fails the change's check too, before any registry is asked.
      const policy = await loadPolicy(options.images, options.policy);
      if (options.base === undefined) {
        const plan = applyPolicy(planOfOnly(await loadPlan(options, target), options.only, (message) => io.stderr(warning(message))), policy);
        await emit(withRules(planReport(plan), plan), 'plan', format, options.summaryFile);
        return;
      }
      const logins = await registryLogins(options.credentials, io.env, (message) => io.stderr(warning(message)));
      const planOptions = await planOptionsOf(options, target);
      const base = await baseSource(options.base, options.images);
      // Only source registries are read, with the --credentials logins; no target, no crane.
      const report = await comparePlans(
        { base, next: imagesDirectory(options.images), ...(options.cost ? { registry: sourceLookups(logins) } : {}) },
        { ...planOptions, baseLabel: options.base, pullReserve: options.pullReserve, artifacts: options.artifacts, ...(policy === undefined ? {} : { policy }) },
      );
      io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderDiffMarkdown(report) : renderDiffText(report));
      setExit(diffReportFailed(report) ? EXIT_FAILED : EXIT_OK);
      await summarise(options.summaryFile, () => renderDiffMarkdown(report));
    });

  commonOptions(program.command('sync'))
    .description('copy every image whose target digest differs from the source; unchanged images cost one HEAD')
    .requiredOption('--target <registry[/prefix]>', 'registry and optional repository prefix to mirror into')
    .option('--dry-run', 'compare digests but copy nothing and create no repository')
    .option('--concurrency <n>', `images copied at once (1-${MAX_CONCURRENCY})`, wholeNumber('--concurrency', MAX_CONCURRENCY), 4)
    .option('--lookup-concurrency <n>', `images looked up (HEAD on source and target, free on Docker Hub) at once (1-${MAX_LOOKUP_CONCURRENCY})`, wholeNumber('--lookup-concurrency', MAX_LOOKUP_CONCURRENCY), DEFAULT_LOOKUP_CONCURRENCY)
    .option('--pull-reserve <n>', `pulls of a source's budget (Docker Hub: 100 or 200 per 6 h) never spent, kept for the clusters still pulling from it; an image that would go below is deferred (0-${MAX_PULL_RESERVE})`, wholeNumber('--pull-reserve', MAX_PULL_RESERVE, 0), DEFAULT_PULL_RESERVE)
    .addOption(new Option('--platform <os/arch>', 'copy only these platforms out of multi-platform indexes (repeatable)').argParser(collect).default([] as string[], 'the whole index, digest kept'))
    .addOption(onlyOption())
    .addOption(artifactsOption('what travels with each image: none, signatures (cosign .sig tags, Sigstore bundles and Notary signatures among the referrers) or all (also attestations, SBOMs, every referrer)'))
    .addOption(policyOption())
    .option('--ecr', 'treat the target as ECR (create repositories, put back their drifted settings) even if its host is not *.dkr.ecr.*.amazonaws.com')
    .option('--kms-key <key>', 'ECR only: KMS key of new repositories, as a key ARN or id, an alias or an alias ARN (default AES256); an existing one encrypted otherwise is reported', kmsKey)
    .option('--credentials <file>', 'JSON keyed by registry host: {"docker.io": {"username": "…", "password": "…"}}')
    .option('--crane <path>', 'crane binary (env: CRANE)', io.env.CRANE ?? 'crane')
    .option('--timeout <seconds>', `time limit of one image copy (1-${MAX_TIMEOUT_SECONDS})`, wholeNumber('--timeout', MAX_TIMEOUT_SECONDS), 600)
    .addOption(new Option('--format <format>', 'output: a table (text), markdown or one JSON document (json, same as --json)').choices(['text', 'markdown', 'json'] as const))
    .option('-q, --quiet', 'no progress lines on stderr')
    .option('--verbose', 'print each crane command on stderr as it starts (logins never: crane reads them from a private Docker config)')
    .addHelpText('after', SYNC_HELP)
    .action(async (options) => {
      const format = formatOf(options);
      const platforms = options.platform.map((text) => {
        try {
          return parsePlatform(text);
        } catch (error) {
          throw new UsageError(`--platform: ${describeError(error)}`);
        }
      });
      const target = parseTargetBase(options.target);
      if (options.kmsKey !== undefined && !isEcrTarget({ target, ecr: options.ecr === true })) {
        throw new UsageError(`--kms-key applies to ECR only, and "${safeText(options.target)}" is not an ECR registry (*.dkr.ecr.<region>.amazonaws.com): other registries encrypt as they are set up; give --ecr for ECR under another name`);
      }
      await checkSummaryFile(options.summaryFile);
      await checkImagesDirectory(options.images);
      // Read whole before any registry is asked: a broken policy stops the run here (exit 2), no image touched.
      const policy = await loadPolicy(options.images, options.policy);
      const plan = applyPolicy(planOfOnly(await loadPlan(options, target), options.only, (message) => io.stderr(warning(message))), policy);
      // Ctrl-C, a cancelled CI job, `timeout`: start nothing more, stop crane, remove its credentials, report what was done.
      const stop = new AbortController();
      const progress = createProgress({ write: io.stderr, isTTY: io.stderrIsTTY === true, columns: outputWidth(io.env, io.stderrIsTTY, io.columns), kind: options.dryRun ? 'dry-run' : 'sync' });
      let stoppedBy: StopSignal | undefined;
      const unlisten = io.onStopSignal?.((signal) => {
        if (stoppedBy !== undefined) {
          // A second signal: the user will not wait for anything, not even a call that cannot be aborted.
          stopCopiesNow();
          // The live line goes first: the process ends here, and the shell's prompt must not land on it.
          progress.end();
          io.stderr(`mirror: ${signal} again: stopped at once, crane ended and its credentials removed; no report\n`);
          io.exit?.(EXIT_SIGNAL[signal]);
          return;
        }
        progress.print(`mirror: ${signal}: stopping; images not finished are reported as interrupted (again to stop at once)\n`);
        stoppedBy = signal;
        stop.abort();
      });
      // The JavaScript SDK reads AWS_REGION only; AWS_DEFAULT_REGION is the AWS CLI's, and many CI setups give only that.
      const region = io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION;
      const wiring = {
        signal: stop.signal,
        target,
        ecr: options.ecr === true,
        crane: options.crane,
        copyTimeoutMs: options.timeout * 1000,
        ...(await registryLogins(options.credentials, io.env, (message) => progress.print(warning(message)))),
        ...(options.kmsKey ? { kmsKey: options.kmsKey } : {}),
        ...(region ? { region } : {}),
        ...(options.verbose ? { onCraneCommand: (argv: readonly string[]) => progress.print(`mirror: running ${displayCommand(argv)}\n`) } : {}),
      };
      const deps = createSyncDeps(wiring);
      try {
        // Once, before the first image, what would fail every image alike: crane, the AWS region and login, the target's login.
        const checks = preflightChecks(wiring, deps);
        await preflightSync(plan, checks, { crane: options.crane, dryRun: options.dryRun === true });
      } catch (error) {
        unlisten?.();
        if (stoppedBy === undefined || !isInterruption(error)) throw error;
        // Stopped while checking: nothing was started, so no report; the signal's exit code, as for a sync stopped later.
        setExit(EXIT_SIGNAL[stoppedBy]);
        return;
      }
      if (!options.quiet) io.stderr(`syncing ${plan.jobs.length} image(s) into ${options.target}${options.dryRun ? ' (dry run)' : ''}\n`);
      let report: Report;
      try {
        report = await syncAll(plan, deps, {
          concurrency: options.concurrency,
          lookupConcurrency: options.lookupConcurrency,
          pullReserve: options.pullReserve,
          ...(options.dryRun ? { dryRun: true } : {}),
          platforms,
          artifacts: options.artifacts,
          signal: stop.signal,
          ...(options.quiet ? {} : { onResult: (result, done, total) => progress.result(result, done, total) }),
        });
      } finally {
        progress.end();
        unlisten?.();
      }
      await emit(report, options.dryRun ? 'dry-run' : 'sync', format, options.summaryFile);
      if (stoppedBy !== undefined) setExit(EXIT_SIGNAL[stoppedBy]);
    });

  commonOptions(program.command('orphans'))
    .description('list the ECR repositories under the target prefix, tagged managed-by=image-mirror, that no Dockerfile names any more (nothing is deleted)')
    .requiredOption('--target <registry[/prefix]>', 'the ECR registry and prefix the sync mirrors into')
    .option('--ecr', 'treat the target as ECR even if its host is not *.dkr.ecr.*.amazonaws.com')
    .option('--region <region>', 'AWS region, where the target host does not tell it (env: AWS_REGION)')
    .addOption(new Option('--format <format>', 'output: a table (text) or one JSON document (json, same as --json)').choices(['text', 'json'] as const))
    .addOption(hiddenQuiet())
    .addHelpText('after', ORPHANS_HELP)
    .action(async (options) => {
      const format = formatOf(options);
      const target = parseTargetBase(options.target);
      if (!isEcrTarget({ target, ecr: options.ecr === true })) {
        throw new UsageError(`--target: "${safeText(options.target)}" is not an ECR registry (*.dkr.ecr.<region>.amazonaws.com): only ECR repositories are tagged and listed; give --ecr for ECR under another name`);
      }
      await checkSummaryFile(options.summaryFile);
      const planOptions = await planOptionsOf(options, target);
      const plan = buildPlan(await imagesDirectory(options.images).list(), planOptions);
      const region = options.region ?? io.env.AWS_REGION;
      const store = ecrRepositoryStore({ target, ...(region ? { region } : {}) });
      // The text report opens with the warning; a JSON document has no place for it.
      if (target.prefix === '' && format === 'json') io.stderr(`mirror: warning: ${NO_PREFIX_WARNING}\n`);
      // The template and allow-list the plan used: an empty --name-template means the default there, and must here too.
      const report = await findOrphans(plan, store, { ...planOptions, target });
      io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderOrphans(report, target));
      setExit(report.orphans.length > 0 ? EXIT_FAILED : EXIT_OK);
      await summarise(options.summaryFile, () => renderOrphansMarkdown(report, target));
    });

  program
    .command('gate')
    .description('judge Trivy reports of the tree\'s images against the sign-offs (.trivyignore.yaml) beside their Dockerfiles: fails on a finding of the gated severities nobody signed off (no registry is contacted)')
    .requiredOption('--images <dir>', 'directory whose first level is registry hosts, e.g. images/')
    .addOption(new Option('--trivy <file|dir>', 'a report of `trivy image --format json`, or a directory of them (every *.json; one with none is no report: with --base, each added or changed image is not scanned); repeatable, at least one').argParser(collectRequired).makeOptionMandatory())
    .option('--severity <list>', 'comma-separated severities that must be signed off (CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN)', DEFAULT_GATE_SEVERITIES.join(','))
    .option('--base <dir|git-ref>', 'the tree the change is made to: a directory if one exists at that path, else a git ref (origin/main) of the repository holding --images; an image added or changed with no report fails')
    .addOption(new Option('--format <format>', 'output: text, markdown (a section of a pull-request comment) or one JSON document (json, same as --json)').choices(['text', 'markdown', 'json'] as const))
    .option('--json', 'print exactly one JSON document on stdout')
    .option('--summary-file <file>', 'also append the report in markdown to this file (e.g. $GITHUB_STEP_SUMMARY), pass or fail')
    .addHelpText('after', GATE_HELP)
    .action(async (options) => {
      const format = formatOf(options);
      const severities = parseSeverities(options.severity);
      await checkSummaryFile(options.summaryFile);
      await checkImagesDirectory(options.images);
      const reports = await readTrivyReports(options.trivy, { withBase: options.base !== undefined });
      const base = options.base === undefined ? undefined : await baseSource(options.base, options.images);
      const deps = { next: imagesDirectory(options.images), signOffs: signOffsOf(options.images), ...(base === undefined ? {} : { base }) };
      const report = await runGate(deps, reports, { severities, now: new Date() });
      const shown = { images: options.images };
      io.stdout(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderGateMarkdown(report, shown) : renderGateText(report, shown));
      setExit(report.passed ? EXIT_OK : EXIT_FAILED);
      await summarise(options.summaryFile, () => renderGateMarkdown(report, shown));
    });

  addBotCommands(program, io, (ok) => setExit(ok ? EXIT_OK : EXIT_FAILED));
  // The bot commands are defined in bots.ts; their examples and exit codes are told like every other command's.
  for (const command of program.commands) if (command.name() === 'dependabot' || command.name() === 'renovate') command.addHelpText('after', botHelp(command.name()));
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
