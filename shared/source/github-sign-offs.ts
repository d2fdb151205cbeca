import type { Octokit } from 'octokit';
import { signOffPathFor } from '../plan/sign-off-path.ts';
import type { SignOffReader, SignOffText } from '../ports.ts';
import { type GitHubSourceOptions, toSourceError } from './github.ts';
import { imagesRootOf, readGitHubFile } from './github-files.ts';
import { outsideRoot } from './sign-off-files.ts';

/** Where the images tree lives on GitHub: the same options, with the same defaults, as the Dockerfile source. */
export type GitHubSignOffOptions = Pick<GitHubSourceOptions, 'owner' | 'repo' | 'ref' | 'path'>;

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
    this.root = imagesRootOf(options);
  }

  async read(dockerfilePath: string): Promise<SignOffText | undefined> {
    const path = signOffPathFor(dockerfilePath);
    const outside = outsideRoot(dockerfilePath);
    if (outside !== undefined) return { path, readError: outside };
    const ref = await this.refFor(path);
    const where = `${this.owner}/${this.repo}@${ref}`;
    const doing = `reading the sign-off file "${path}" from ${where}`;
    const read = await readGitHubFile(this.octokit, { owner: this.owner, repo: this.repo, root: this.root, ref }, path, doing);
    if (read === undefined) return undefined;
    return 'refused' in read ? { path, readError: read.refused } : { path, text: read.text };
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
