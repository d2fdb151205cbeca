import { DEFAULT_NAME_TEMPLATE, parseTargetBase, type TargetBase, validateNameTemplate } from '../image-ref/target.ts';
import { normaliseRegistryHost } from '../image-ref/reference.ts';
import { EnvReader, optionalField } from './env.ts';

/** The scheduler Lambda's settings, read once at cold start. */
export interface SchedulerConfig {
  readonly owner: string;
  readonly repo: string;
  /** Branch, tag or commit; the repository's default branch when absent. */
  readonly ref?: string;
  readonly imagesPath: string;
  /** Secrets Manager id of the GitHub token; none for a public repository. */
  readonly githubTokenSecretId?: string;
  readonly githubApiUrl: string;
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
  const repository = read.required('GITHUB_REPOSITORY');
  const match = /^([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(repository);
  if (repository && !match) read.parse('GITHUB_REPOSITORY', repository, () => { throw new Error(`expected owner/name, got "${repository}"`); });
  const targetText = read.required('TARGET');
  const target = targetText ? read.parse('TARGET', targetText, parseTargetBase) : undefined;
  const nameTemplate = read.optional('NAME_TEMPLATE') ?? DEFAULT_NAME_TEMPLATE;
  read.parse('NAME_TEMPLATE', nameTemplate, validateNameTemplate);
  const allowRegistries = read.list('ALLOW_REGISTRIES').map((host) => read.parse('ALLOW_REGISTRIES', host, normaliseRegistryHost)).filter((h): h is string => h !== undefined);
  const config = {
    owner: match?.[1] ?? '',
    repo: match?.[2] ?? '',
    imagesPath: (read.optional('IMAGES_PATH') ?? 'images').replace(/^\/+|\/+$/g, ''),
    githubApiUrl: (read.optional('GITHUB_API_URL') ?? 'https://api.github.com').replace(/\/+$/, ''),
    workerFunctionName: read.required('WORKER_FUNCTION_NAME'),
    target: target ?? { registry: '', prefix: '' },
    ecr: read.boolean('TARGET_IS_ECR', false),
    nameTemplate,
    allowRegistries,
    maxInFlight: read.wholeNumber('MAX_IN_FLIGHT', 10, MAX_IN_FLIGHT),
    ...optionalField('ref', read.optional('GITHUB_REF')),
    ...optionalField('githubTokenSecretId', read.optional('GITHUB_TOKEN_SECRET_ID')),
    ...optionalField('region', read.optional('AWS_REGION')),
  };
  read.done('scheduler');
  return Object.freeze(config);
}
