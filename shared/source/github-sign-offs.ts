import type { Octokit } from 'octokit';
import { GitHubSourceError } from '../errors.ts';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { SignOffReader, SignOffText } from '../ports.ts';
import { unreadableEntry } from './entries.ts';
import { type GitHubSourceOptions, toSourceError } from './github.ts';
import { outsideRoot } from './sign-off-files.ts';

/** Where the images tree lives on GitHub: the same options, with the same defaults, as the Dockerfile source. */
export type GitHubSignOffOptions = Pick<GitHubSourceOptions, 'owner' | 'repo' | 'ref' | 'path'>;

/** The mode GitHub's GraphQL gives a symbolic link's tree entry: git's 120000, as a decimal number. */
const SYMLINK_MODE = 0o120000;

/**
 * One query per file. The images root is asked for too, so that a wrong ref or root fails loudly instead of reading
 * as "no sign-off file" everywhere; the directory's entries give the file's mode, since `object(expression:)` answers
 * a symbolic link with its blob (the link's target as text) and a Blob has no mode. Paths travel as variables.
 */
const QUERY = `query($owner: String!, $name: String!, $root: String!, $dir: String!, $file: String!) {
  repository(owner: $owner, name: $name) {
    root: object(expression: $root) { __typename }
    dir: object(expression: $dir) { ... on Tree { entries { name mode } } }
    file: object(expression: $file) { __typename ... on Blob { byteSize isBinary isTruncated text } }
  }
}`;

/** GitHub's answer to QUERY (https://docs.github.com/en/graphql/reference/objects#repository, field `object`). */
interface Answer {
  readonly repository: {
    readonly root: { readonly __typename: string } | null;
    readonly dir: { readonly entries?: readonly { readonly name: string; readonly mode: number }[] } | null;
    readonly file: {
      readonly __typename: string;
      readonly byteSize?: number;
      readonly isBinary?: boolean;
      readonly isTruncated?: boolean;
      readonly text?: string | null;
    } | null;
  } | null;
}

/**
 * Reads the sign-off file beside a Dockerfile of an images tree on GitHub, one GraphQL query per file, under the rules of
 * the local reader: no symbolic link followed, a regular file of at most 1 MiB, nothing outside the images root.
 */
export class GitHubSignOffReader implements SignOffReader {
  private readonly owner: string;
  private readonly repo: string;
  private readonly root: string;
  private readonly ref: string | undefined;
  /** The default branch, looked up once for all reads; forgotten when the lookup fails, so that the next read tries again. */
  private defaultBranch: Promise<string> | undefined;

  constructor(
    private readonly octokit: Octokit,
    options: GitHubSignOffOptions,
  ) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.ref = options.ref;
    this.root = (options.path ?? 'images').replace(/^\/+|\/+$/g, '');
  }

  async read(dockerfilePath: string): Promise<SignOffText | undefined> {
    const path = signOffPathFor(dockerfilePath);
    const outside = outsideRoot(dockerfilePath);
    if (outside !== undefined) return { path, readError: outside };
    const ref = await this.refFor(path);
    const where = `${this.owner}/${this.repo}@${ref}`;
    const doing = `reading the sign-off file "${path}" from ${where}`;
    const full = this.root === '' ? path : `${this.root}/${path}`;
    const segments = full.split('/');
    const variables = { owner: this.owner, name: this.repo, root: `${ref}:${this.root}`, dir: `${ref}:${segments.slice(0, -1).join('/')}`, file: `${ref}:${full}` };
    let answer: Answer;
    try {
      answer = await this.octokit.graphql<Answer>(QUERY, variables);
    } catch (error) {
      throw toSourceError(doing, error);
    }
    const repository = answer.repository;
    if (repository === null) throw new GitHubSourceError(`${doing}: GitHub answered with no repository: repository not found (or the token cannot see it)`);
    if (repository.root?.__typename !== 'Tree') {
      throw new GitHubSourceError(`${doing}: there is no directory "${this.root || '/'}" at that ref (or no such ref)`);
    }
    const file = repository.file;
    if (file === null) return undefined;
    const mode = repository.dir?.entries?.find((entry) => entry.name === segments.at(-1))?.mode;
    const refused = unreadableEntry(path, { symlink: mode === SYMLINK_MODE, regular: file.__typename === 'Blob', size: file.byteSize })?.readError;
    if (refused !== undefined) return { path, readError: refused };
    if (file.isBinary === true) return { path, readError: 'it is a binary file' };
    if (file.isTruncated === true) return { path, readError: 'GitHub returned its text truncated' };
    if (typeof file.text !== 'string') return { path, readError: 'GitHub returned no text for it' };
    return { path, text: file.text };
  }

  /** The ref to read: the one given, else the default branch, whose lookup failing names the file it was for. */
  private async refFor(path: string): Promise<string> {
    if (this.ref !== undefined) return this.ref;
    this.defaultBranch ??= this.octokit.rest.repos.get({ owner: this.owner, repo: this.repo }).then(
      ({ data }) => data.default_branch,
      (error: unknown) => {
        this.defaultBranch = undefined;
        throw error;
      },
    );
    try {
      return await this.defaultBranch;
    } catch (error) {
      throw toSourceError(`reading the sign-off file "${path}" from ${this.owner}/${this.repo}: looking up the default branch`, error);
    }
  }
}
