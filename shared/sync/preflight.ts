import { describeError, findCause, isInterruption, PreflightError, RegistryRequestError } from '../errors.ts';
import type { ImageReference } from '../image-ref/reference.ts';
import type { Plan } from '../plan/plan.ts';
import { safeText } from '../safe-text.ts';

/**
 * What the preflight checks through, one call each, so that every step can be tried without crane, AWS or a registry.
 * Each throws what its adapter throws; the preflight turns that into the step's one message and its fix.
 */
export interface PreflightChecks {
  /** Runs crane once (`crane version`), the way the copies run it. */
  readonly runCrane: () => Promise<void>;
  /** Present for an ECR target only. */
  readonly ecr?: {
    /** The region the ECR client will use (the target host's, the environment's, the SDK's own config's); undefined when none. */
    readonly region: () => Promise<string | undefined>;
    /** Fetches the ECR login the sync uses (GetAuthorizationToken); the sync then finds it cached. */
    readonly login: () => Promise<void>;
  };
  /** One authenticated request to the target registry, with the credentials the sync uses: a manifest HEAD, a 404 being an answer too. */
  readonly reachTarget: (ref: ImageReference) => Promise<void>;
}

export interface PreflightOptions {
  /** The crane command as given (`--crane`, CRANE): named in its message. */
  readonly crane: string;
  /** A dry run copies nothing, so crane is not needed. */
  readonly dryRun?: boolean;
}

const CRANE_FIX = 'install crane (https://github.com/google/go-containerregistry/tree/main/cmd/crane; the GitHub Action installs one) or give --crane PATH / CRANE';

/**
 * Checks once, before the first image, what every image would otherwise fail on alike: crane runs (not for a dry run);
 * an ECR target has a region and AWS credentials that ECR takes; the target registry takes the login. Crane is run
 * while the target is asked, so the whole check costs about one exchange with the target. Throws one PreflightError
 * naming each step that failed and its fix; an interruption is passed on as it is. A plan with nothing to mirror is
 * not checked.
 */
export async function preflightSync(plan: Plan, checks: PreflightChecks, options: PreflightOptions): Promise<void> {
  const target = plan.jobs.find((job) => job.target !== undefined)?.target;
  if (target === undefined) return;
  const found = await Promise.all([options.dryRun ? undefined : craneProblem(checks, options.crane), targetProblem(checks, target)]);
  const problems = found.filter((problem) => problem !== undefined);
  if (problems.length > 0) throw new PreflightError(problems.map((problem) => problem.message).join('; and '), { cause: problems[0]?.cause });
}

/** What a step found wrong, in words, and the error it came from. */
interface Problem {
  readonly message: string;
  readonly cause?: unknown;
}

async function craneProblem(checks: PreflightChecks, crane: string): Promise<Problem | undefined> {
  const name = safeText(crane, 200);
  try {
    await checks.runCrane();
    return undefined;
  } catch (error) {
    if (isInterruption(error)) throw error;
    // The spawn error's own words ("spawn crane ENOENT") say nothing more than these.
    const code = errorCode(error);
    if (code === 'ENOENT') return { message: `crane not found ("${name}"): ${CRANE_FIX}` };
    if (code === 'EACCES') return { message: `crane ("${name}") cannot be run (permission denied): make it executable, or give --crane PATH / CRANE` };
    return { message: `crane ("${name}") does not run: ${describeError(error)}: ${CRANE_FIX}`, cause: error };
  }
}

/** The target's steps in order: an ECR target's region, then its AWS login, then the registry's own login. */
async function targetProblem(checks: PreflightChecks, target: ImageReference): Promise<Problem | undefined> {
  const host = target.registry;
  if (checks.ecr) {
    if ((await checks.ecr.region()) === undefined) {
      return { message: `no AWS region for the ECR target ${host}: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile)` };
    }
    try {
      await checks.ecr.login();
    } catch (error) {
      if (isInterruption(error)) throw error;
      return { message: ecrLoginMessage(host, error), cause: error };
    }
  }
  try {
    await checks.reachTarget(target);
    return undefined;
  } catch (error) {
    if (isInterruption(error)) throw error;
    return { message: registryMessage(host, error, checks.ecr !== undefined), cause: error };
  }
}

function ecrLoginMessage(host: string, error: unknown): string {
  // The SDK's name for "nothing in the chain had credentials": env, profile, SSO, process, web identity, container, instance.
  if (findCause(error, Error, (cause) => cause.name === 'CredentialsProviderError') !== undefined) {
    return `no AWS credentials for the ECR target ${host} (${describeError(error)}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role`;
  }
  return `the ECR login for ${host} failed: ${describeError(error)}: check the AWS credentials and that they may call ecr:GetAuthorizationToken`;
}

function registryMessage(host: string, error: unknown, ecr: boolean): string {
  const detail = describeError(error);
  const request = findCause(error, RegistryRequestError);
  if (request?.status === 401 || request?.status === 403) {
    const check = ecr ? 'check that the AWS identity may pull and push in this ECR registry' : `check the login for ${host} in --credentials or Docker's config.json, and that it may pull and push there`;
    return `the target refused the login for ${host}: ${detail}: ${check}`;
  }
  // No answer at all (refused connection, DNS, TLS, time limit): the request's error keeps the network's as its cause.
  if (request === undefined || (request.status === undefined && request.cause !== undefined)) return `cannot reach the target ${host}: ${detail}`;
  return `the target ${host} failed its first request: ${detail}`;
}

/** The Node.js error code (`ENOENT`, `EACCES`) of the error or of one of its causes. */
function errorCode(error: unknown): string | undefined {
  const coded = findCause(error, Error, (cause) => typeof (cause as { code?: unknown }).code === 'string');
  return (coded as { code?: string } | undefined)?.code;
}
