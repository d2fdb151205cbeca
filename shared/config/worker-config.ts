import { parsePlatform, type Platform } from '../oci/platform.ts';
import { DEFAULT_NAME_TEMPLATE, parseTargetBase, type TargetBase, validateNameTemplate } from '../image-ref/target.ts';
import { normaliseRegistryHost } from '../image-ref/reference.ts';
import { DEFAULT_PULL_RESERVE } from '../plan/cost.ts';
import { ARTIFACT_MODES, type ArtifactMode, DEFAULT_ARTIFACT_MODE } from '../ports.ts';
import { WORKER_RETRY } from '../retry.ts';
import { EnvReader, optionalField } from './env.ts';

/** The worker Lambda's settings, read once at cold start. */
export interface WorkerConfig {
  readonly target: TargetBase;
  readonly nameTemplate: string;
  /** Treat the target as ECR whatever its host (local stand-ins). */
  readonly ecr: boolean;
  readonly crane: string;
  readonly copyTimeoutMs: number;
  /** Secrets Manager id of the source registries' credentials, JSON keyed by registry host. */
  readonly sourceCredentialsSecretId?: string;
  readonly kmsKey?: string;
  readonly platforms: readonly Platform[];
  readonly allowRegistries: readonly string[];
  readonly region?: string;
  /** Pulls of a source's budget (Docker Hub's) the worker never spends: kept for the clusters still pulling from it. */
  readonly pullReserve: number;
  /** The worker's own attempts at an image whose failure may clear, the first included (Lambda's retries are for crashes). */
  readonly maxAttempts: number;
  /** The longest first wait between those attempts, in milliseconds; it doubles for each one after. */
  readonly retryDelayMs: number;
  /** Which of an image's artifacts (signatures, attestations, SBOMs) are copied with it. */
  readonly artifacts: ArtifactMode;
}

/** Attempts inside one invocation: more would only wait out the 15 minutes. */
const MAX_ATTEMPTS = 10;

/** Waits of more than five minutes belong to the next scheduled run, not to an invocation. */
const MAX_RETRY_DELAY_SECONDS = 300;

/** No budget Docker Hub hands out is larger; a reserve beyond it would defer everything. */
export const MAX_PULL_RESERVE = 100_000;

/** A Lambda runs 15 minutes at the most: no copy can be given longer. */
const LAMBDA_MAX_SECONDS = 900;

/** Loads the worker configuration from the environment; throws one ConfigError listing every problem. */
export function loadWorkerConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const read = new EnvReader(env);
  const targetText = read.required('TARGET');
  const target = targetText ? read.parse('TARGET', targetText, parseTargetBase) : undefined;
  const nameTemplate = read.optional('NAME_TEMPLATE') ?? DEFAULT_NAME_TEMPLATE;
  read.parse('NAME_TEMPLATE', nameTemplate, validateNameTemplate);
  const platforms = read.list('PLATFORMS').map((text) => read.parse('PLATFORMS', text, parsePlatform)).filter((p): p is Platform => p !== undefined);
  const allowRegistries = read.list('ALLOW_REGISTRIES').map((host) => read.parse('ALLOW_REGISTRIES', host, normaliseRegistryHost)).filter((h): h is string => h !== undefined);
  const config = {
    target: target ?? { registry: '', prefix: '' },
    nameTemplate,
    ecr: read.boolean('TARGET_IS_ECR', false),
    crane: read.optional('CRANE_PATH') ?? '/opt/bin/crane',
    copyTimeoutMs: read.wholeNumber('COPY_TIMEOUT_SECONDS', 840, LAMBDA_MAX_SECONDS) * 1000,
    platforms,
    allowRegistries,
    pullReserve: read.wholeNumber('PULL_RESERVE', DEFAULT_PULL_RESERVE, MAX_PULL_RESERVE, 0),
    maxAttempts: read.wholeNumber('MAX_ATTEMPTS', WORKER_RETRY.attempts, MAX_ATTEMPTS),
    retryDelayMs: read.wholeNumber('RETRY_DELAY_SECONDS', WORKER_RETRY.baseDelayMs / 1000, MAX_RETRY_DELAY_SECONDS) * 1000,
    artifacts: read.parse('ARTIFACTS', read.optional('ARTIFACTS') ?? DEFAULT_ARTIFACT_MODE, parseArtifactMode) ?? DEFAULT_ARTIFACT_MODE,
    ...optionalField('sourceCredentialsSecretId', read.optional('SOURCE_CREDENTIALS_SECRET_ID')),
    ...optionalField('kmsKey', read.optional('KMS_KEY_ARN')),
    ...optionalField('region', read.optional('AWS_REGION')),
  };
  read.done('worker');
  return Object.freeze(config);
}

/** `none`, `signatures` or `all`, as the serverless parameter `Artifacts` allows them. */
function parseArtifactMode(text: string): ArtifactMode {
  const mode = ARTIFACT_MODES.find((candidate) => candidate === text.toLowerCase());
  if (mode === undefined) throw new Error(`must be one of ${ARTIFACT_MODES.join(', ')}, got "${text}"`);
  return mode;
}
