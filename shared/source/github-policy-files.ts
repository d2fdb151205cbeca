import type { Octokit } from 'octokit';
import { PolicyFileError } from '../errors.ts';
import type { PolicyFileReader } from '../plan/policy.ts';
import type { GitHubSourceOptions } from './github.ts';
import { imagesRootOf, readGitHubFile } from './github-files.ts';
import { leavesRoot } from './sign-off-files.ts';

/** Where the images tree lives on GitHub: the same options, with the same defaults, as the Dockerfile source. */
export type GitHubPolicyFileOptions = Pick<GitHubSourceOptions, 'owner' | 'repo' | 'ref' | 'path'>;

/**
 * Reads the signature policy file and the key and trust-root files it names from the images tree on GitHub (the tree and
 * ref the scheduler lists Dockerfiles from). A file that does not exist reads as undefined; one that exists but cannot be
 * taken (a symbolic link, a directory, binary, too large, truncated) throws PolicyFileError, since a policy half-read
 * must never let an image through unverified.
 */
export class GitHubPolicyFileReader {
  private readonly owner: string;
  private readonly repo: string;
  private readonly root: string;
  /** The ref given, else `HEAD`, which GitHub's `object(expression:)` reads as the default branch: no REST call to look it up. */
  private readonly ref: string;

  constructor(
    private readonly octokit: Octokit,
    options: GitHubPolicyFileOptions,
  ) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.ref = options.ref ?? 'HEAD';
    this.root = imagesRootOf(options);
  }

  /** The reader as the policy parser takes it. */
  get reader(): PolicyFileReader {
    return (path) => this.read(path);
  }

  /** The text of the file at `path` below the images root, or undefined when there is none. */
  async read(path: string): Promise<string | undefined> {
    if (leavesRoot(path)) throw new PolicyFileError(`reading "${path}" of the signature policy: not a path below the images root`);
    const ref = this.ref;
    const doing = `reading "${path}" of the signature policy from ${this.owner}/${this.repo}@${ref === 'HEAD' ? 'HEAD (the default branch)' : ref}`;
    const read = await readGitHubFile(this.octokit, { owner: this.owner, repo: this.repo, root: this.root, ref }, path, doing);
    if (read !== undefined && 'refused' in read) throw new PolicyFileError(`${doing}: ${read.refused}`);
    return read?.text;
  }
}
