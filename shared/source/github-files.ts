// One file of an images tree on GitHub, read by path at a ref (the sign-off and policy readers), and a ref resolved to
// the commit a run reads everything at.
import type { Octokit } from 'octokit';
import { GitHubSourceError } from '../errors.ts';
import { unreadableEntry } from './entries.ts';
import { type GitHubSourceOptions, toSourceError } from './github.ts';

/** The mode GitHub's GraphQL gives a symbolic link's tree entry: git's 120000, as a decimal number. */
const SYMLINK_MODE = 0o120000;

/**
 * One query per file. The images root is asked for too, so that a wrong ref or root fails loudly instead of reading
 * as "no such file"; the directory's entries give the file's mode, since `object(expression:)` answers a symbolic link
 * with its blob (the link's target as text) and a Blob has no mode. Paths travel as variables.
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

/** Where a file is read: the repository, the images root (no leading or trailing slash, '' for the whole repository) and the ref. */
export interface GitHubTreeAt {
  readonly owner: string;
  readonly repo: string;
  readonly root: string;
  readonly ref: string;
}

/** What reading one file found: its text, or why it is not taken (a symbolic link, not a file, binary, too large, cut short). */
export type GitHubFileRead = { readonly text: string } | { readonly refused: string };

/** The images root of the options, as GitHubTreeAt takes it: `images` when absent, slashes trimmed. */
export function imagesRootOf(options: Pick<GitHubSourceOptions, 'path'>): string {
  return (options.path ?? 'images').replace(/^\/+|\/+$/g, '');
}

/**
 * Reads the file at `path` below the images root at `at.ref`, under the Dockerfile sources' rules; undefined when there
 * is none. Throws GitHubSourceError, prefixed with `doing`, when GitHub fails or the repository, ref or root is not there.
 */
export async function readGitHubFile(octokit: Octokit, at: GitHubTreeAt, path: string, doing: string): Promise<GitHubFileRead | undefined> {
  const full = at.root === '' ? path : `${at.root}/${path}`;
  const segments = full.split('/');
  const variables = { owner: at.owner, name: at.repo, root: `${at.ref}:${at.root}`, dir: `${at.ref}:${segments.slice(0, -1).join('/')}`, file: `${at.ref}:${full}` };
  let answer: Answer;
  try {
    answer = await octokit.graphql<Answer>(QUERY, variables);
  } catch (error) {
    throw toSourceError(doing, error);
  }
  const repository = answer.repository;
  if (repository === null) throw new GitHubSourceError(`${doing}: GitHub answered with no repository: repository not found (or the token cannot see it)`);
  if (repository.root?.__typename !== 'Tree') throw new GitHubSourceError(`${doing}: there is no directory "${at.root || '/'}" at that ref (or no such ref)`);
  const file = repository.file;
  if (file === null) return undefined;
  const mode = repository.dir?.entries?.find((entry) => entry.name === segments.at(-1))?.mode;
  const refused =
    unreadableEntry(path, { symlink: mode === SYMLINK_MODE, regular: file.__typename === 'Blob', size: file.byteSize })?.readError ??
    (file.isBinary === true ? 'it is a binary file' : file.isTruncated === true ? 'GitHub returned its text truncated' : typeof file.text !== 'string' ? 'GitHub returned no text for it' : undefined);
  return refused === undefined ? { text: file.text ?? '' } : { refused };
}

/**
 * The commit a ref names now (a branch, a tag, a sha; the default branch when absent), in one REST call that answers the
 * sha alone (the `application/vnd.github.sha` media type). A run that reads everything at that sha reads one snapshot:
 * a push between its calls cannot mix two commits.
 */
export async function resolveCommit(octokit: Octokit, options: Pick<GitHubSourceOptions, 'owner' | 'repo' | 'ref'>): Promise<string> {
  const ref = options.ref ?? 'HEAD';
  const doing = `resolving ${ref === 'HEAD' ? 'the default branch' : `"${ref}"`} of ${options.owner}/${options.repo} to a commit`;
  let sha: unknown;
  try {
    ({ data: sha } = await octokit.rest.repos.getCommit({ owner: options.owner, repo: options.repo, ref, mediaType: { format: 'sha' } }));
  } catch (error) {
    throw toSourceError(doing, error);
  }
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha.trim())) throw new GitHubSourceError(`${doing}: GitHub answered no commit sha`);
  return sha.trim();
}
