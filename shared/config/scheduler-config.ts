import { DEFAULT_NAME_TEMPLATE, parseTargetBase, type TargetBase, validateNameTemplate } from '../image-ref/target.ts';
import { normaliseRegistryHost } from '../image-ref/reference.ts';
import { EnvReader, optionalField } from './env.ts';
import { type GitHubConfig, readGitHubConfig } from './github-config.ts';

/** The scheduler Lambda's settings, read once at cold start. */
export interface SchedulerConfig extends GitHubConfig {
  readonly workerFunctionName: string;
  readonly target: TargetBase;
  /** Treat the target as ECR whatever its host (local stand-ins): its orphaned repositories are looked for. */
  readonly ecr: boolean;
  readonly region?: string;
  readonly nameTemplate: string;
  readonly allowRegistries: readonly string[];
  readonly maxInFlight: number;
}

/** Worker invocations in flight at once: more only piles up throttled Lambda invokes. */
const MAX_IN_FLIGHT = 1000;

/** Loads the scheduler configuration from the environment; throws one ConfigError listing every problem. */
export function loadSchedulerConfig(env: Readonly<Record<string, string | undefined>>): SchedulerConfig {
  const read = new EnvReader(env);
  const github = readGitHubConfig(read, read.required('GITHUB_REPOSITORY'));
  const targetText = read.required('TARGET');
  const target = targetText ? read.parse('TARGET', targetText, parseTargetBase) : undefined;
  const nameTemplate = read.optional('NAME_TEMPLATE') ?? DEFAULT_NAME_TEMPLATE;
  read.parse('NAME_TEMPLATE', nameTemplate, validateNameTemplate);
  const allowRegistries = read.list('ALLOW_REGISTRIES').map((host) => read.parse('ALLOW_REGISTRIES', host, normaliseRegistryHost)).filter((h): h is string => h !== undefined);
  const config = {
    ...github,
    workerFunctionName: read.required('WORKER_FUNCTION_NAME'),
    target: target ?? { registry: '', prefix: '' },
    ecr: read.boolean('TARGET_IS_ECR', false),
    nameTemplate,
    allowRegistries,
    maxInFlight: read.wholeNumber('MAX_IN_FLIGHT', 10, MAX_IN_FLIGHT),
    ...optionalField('region', read.optional('AWS_REGION')),
  };
  read.done('scheduler');
  return Object.freeze(config);
}
