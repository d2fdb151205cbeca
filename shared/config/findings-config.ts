import { EnvReader, optionalField } from './env.ts';
import { type GitHubConfig, readGitHubConfig } from './github-config.ts';
import { DEFAULT_NAME_TEMPLATE, isEcrRepositoryPath, validateNameTemplate } from '../image-ref/target.ts';

/** The images repository on GitHub, where the sign-off files beside the Dockerfiles are read: the scheduler's settings. */
export interface FindingsGitHubConfig extends GitHubConfig {
  /** The repository on the web at its ref (`https://github.com/octo/images/blob/main`), for links to the sign-off files; absent when the API URL does not tell it. */
  readonly webUrl?: string;
}

/** The findings Lambda's settings, read once at cold start. */
export interface FindingsConfig {
  /** Repositories named `<targetPrefix>/…` are the mirror's; scan events of any other are ignored. */
  readonly targetPrefix: string;
  /** How the mirror names its repositories: an image's Dockerfile is found by planning the tree with it. */
  readonly nameTemplate: string;
  /** Where sign-offs are read; absent without GITHUB_REPOSITORY, and then every critical and high finding is unaccepted. */
  readonly github?: FindingsGitHubConfig;
}

/** Loads the findings configuration from the environment; throws one ConfigError listing every problem. */
export function loadFindingsConfig(env: Readonly<Record<string, string | undefined>>): FindingsConfig {
  const read = new EnvReader(env);
  // Required, not defaulted to "every repository": the account may hold images that are not the mirror's.
  const text = read.required('TARGET_PREFIX');
  const targetPrefix = text.replace(/^\/+|\/+$/g, '');
  if (text !== '' && !isEcrRepositoryPath(targetPrefix)) {
    read.parse('TARGET_PREFIX', text, () => {
      throw new Error(`"${targetPrefix}" must be lowercase path components of a-z, 0-9 and single ".", "_" or "-" separators`);
    });
  }
  const nameTemplate = read.optional('NAME_TEMPLATE') ?? DEFAULT_NAME_TEMPLATE;
  read.parse('NAME_TEMPLATE', nameTemplate, validateNameTemplate);
  const github = readGitHub(read);
  read.done('findings');
  return Object.freeze({ targetPrefix, nameTemplate, ...optionalField('github', github) });
}

/** The GitHub settings, read as the scheduler reads them, when GITHUB_REPOSITORY names the images repository. */
function readGitHub(read: EnvReader): FindingsGitHubConfig | undefined {
  const repository = read.optional('GITHUB_REPOSITORY');
  if (repository === undefined) return undefined;
  const github = readGitHubConfig(read, repository);
  const web = webOf(github.githubApiUrl);
  return Object.freeze({
    ...github,
    // HEAD: GitHub's web shows the default branch under it, so the link works without knowing the branch's name.
    ...optionalField('webUrl', web === undefined ? undefined : `${web}/${github.owner}/${github.repo}/blob/${github.ref ?? 'HEAD'}`),
  });
}

/** GitHub's web address for its API's: github.com for api.github.com, the host for GitHub Enterprise Server's `/api/v3`. */
function webOf(apiUrl: string): string | undefined {
  if (apiUrl === 'https://api.github.com') return 'https://github.com';
  const enterprise = /^(https?:\/\/[^/]+)\/api\/v3$/.exec(apiUrl);
  return enterprise?.[1];
}
