import { type EnvReader, optionalField } from './env.ts';

/** The images repository on GitHub, as the scheduler lists it and the findings function reads its sign-off files. */
export interface GitHubConfig {
  readonly owner: string;
  readonly repo: string;
  /** Branch, tag or commit; the repository's default branch when absent. */
  readonly ref?: string;
  readonly imagesPath: string;
  /** Secrets Manager id of the GitHub token; none for a public repository. */
  readonly githubTokenSecretId?: string;
  readonly githubApiUrl: string;
}

/**
 * Reads the GitHub settings beside GITHUB_REPOSITORY (`owner/name`, given by the caller, which decides whether it is
 * required): GITHUB_REF, IMAGES_PATH, GITHUB_TOKEN_SECRET_ID, GITHUB_API_URL. Problems go to `read`, as every setting's.
 */
export function readGitHubConfig(read: EnvReader, repository: string): GitHubConfig {
  const match = /^([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(repository);
  // An empty one is already reported as required by the caller.
  if (repository !== '' && !match) read.parse('GITHUB_REPOSITORY', repository, () => { throw new Error(`expected owner/name, got "${repository}"`); });
  return {
    owner: match?.[1] ?? '',
    repo: match?.[2] ?? '',
    imagesPath: (read.optional('IMAGES_PATH') ?? 'images').replace(/^\/+|\/+$/g, ''),
    githubApiUrl: (read.optional('GITHUB_API_URL') ?? 'https://api.github.com').replace(/\/+$/, ''),
    ...optionalField('ref', read.optional('GITHUB_REF')),
    ...optionalField('githubTokenSecretId', read.optional('GITHUB_TOKEN_SECRET_ID')),
  };
}
