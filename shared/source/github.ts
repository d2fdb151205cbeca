import { STATUS_CODES } from 'node:http';
import { type Octokit, RequestError } from 'octokit';
import { ConfigError, GitHubSourceError } from '../errors.ts';
import type { DockerfileEntry, DockerfileSource } from '../ports.ts';
import { byPath, MAX_DOCKERFILE_BYTES, tooLarge, treeEntry } from './entries.ts';

/** Where the images tree lives on GitHub. */
export interface GitHubSourceOptions {
  readonly owner: string;
  readonly repo: string;
  /** Branch, tag or commit sha; the repository's default branch when absent (one more API call). */
  readonly ref?: string;
  /** The images root inside the repository: `images` when absent, an empty string for the whole repository. */
  readonly path?: string;
  /** Dockerfiles read per GraphQL query, from 1 to 100 (the default). */
  readonly batchSize?: number;
}

/** What the last `list()` cost. */
export interface GitHubSourceStats {
  /** Calls made to GitHub, REST and GraphQL; attempts repeated inside octokit's retry plugin are not seen here. */
  readonly apiCalls: number;
  /** True when a recursive tree listing came back truncated and the images tree was walked in parts instead. */
  readonly truncatedFallback: boolean;
}

const MAX_BATCH_SIZE = 100;
const BLOB_FIELDS = 'byteSize isBinary isTruncated text';

type GitTree = Awaited<ReturnType<Octokit['rest']['git']['getTree']>>['data'];
type TreeItem = GitTree['tree'][number];

/** The fields of a GraphQL `Blob` we ask for; all absent when the object is not a blob. */
interface BlobFields {
  readonly byteSize?: number;
  readonly isBinary?: boolean;
  readonly isTruncated?: boolean;
  readonly text?: string | null;
}

interface GraphqlError {
  readonly message: string;
  readonly type?: string;
  readonly path?: readonly (string | number)[];
}

interface Run {
  apiCalls: number;
  truncatedFallback: boolean;
}

/**
 * Lists a GitHub repository's Dockerfiles with one tree call and one GraphQL query per 100 files, read by blob id.
 * Same rules as the other sources; any symbolic link that is no Dockerfile gets a warning, since a tree cannot say
 * whether it points to a directory.
 */
export class GitHubDockerfileSource implements DockerfileSource {
  private readonly owner: string;
  private readonly repo: string;
  private readonly ref: string | undefined;
  private readonly root: string;
  private readonly batchSize: number;
  private run: Run = { apiCalls: 0, truncatedFallback: false };

  constructor(
    private readonly octokit: Octokit,
    options: GitHubSourceOptions,
  ) {
    const batchSize = options.batchSize ?? MAX_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new ConfigError(`GitHub batch size must be a whole number from 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
    }
    this.owner = options.owner;
    this.repo = options.repo;
    this.ref = options.ref;
    this.root = (options.path ?? 'images').replace(/^\/+|\/+$/g, '');
    this.batchSize = batchSize;
  }

  /** API calls and fallbacks of the last (or current) `list()`. */
  get stats(): GitHubSourceStats {
    return { ...this.run };
  }

  // Retries and throttling belong to the injected octokit: the scheduler builds it with both off, since the throttling
  // plugin would sleep until a rate limit resets (up to an hour, past the Lambda timeout) and the next run retries anyway.
  async list(): Promise<DockerfileEntry[]> {
    const run: Run = { apiCalls: 0, truncatedFallback: false };
    this.run = run;
    const ref = this.ref ?? (await this.defaultBranch(run));
    const where = `${this.owner}/${this.repo}@${ref}`;
    const blobs = (await this.listTree(run, ref, where)).filter((item) => this.isBlobBelowRoot(item));
    const entries: DockerfileEntry[] = [];
    const toRead: { path: string; sha: string }[] = [];
    for (const item of blobs) {
      const path = this.relative(item.path);
      const entry = treeEntry(path, { mode: item.mode, regular: true, size: item.size });
      if (entry === 'read') toRead.push({ path, sha: item.sha });
      else if (entry !== undefined) entries.push(entry);
    }
    for (let start = 0; start < toRead.length; start += this.batchSize) {
      const batch = toRead.slice(start, start + this.batchSize);
      const doing = `reading Dockerfiles ${start + 1} to ${start + batch.length} of ${toRead.length} from ${where}`;
      entries.push(...(await this.readBatch(run, batch, doing)));
    }
    return entries.sort(byPath);
  }

  private async defaultBranch(run: Run): Promise<string> {
    const { data } = await this.call(run, `looking up the default branch of ${this.owner}/${this.repo}`, () =>
      this.octokit.rest.repos.get({ owner: this.owner, repo: this.repo }),
    );
    return data.default_branch;
  }

  /** Every entry below the images root, with paths from the repository root, however large the tree. */
  private async listTree(run: Run, ref: string, where: string): Promise<TreeItem[]> {
    const whole = await this.getTree(run, ref, true, `listing the tree of ${where}`);
    if (!whole.truncated) {
      if (this.root !== '' && !whole.tree.some((item) => item.path === this.root && item.type === 'tree')) throw this.noRoot(where);
      return whole.tree;
    }
    // GitHub cut the recursive listing short (100,000 entries or 7 MB): list the images subtree alone, by sha, so that
    // every later call reads the same snapshot.
    run.truncatedFallback = true;
    if (this.root === '') return this.walk(run, whole.sha, '', where);
    const listed = whole.tree.find((item) => item.path === this.root && item.type === 'tree');
    const rootSha = listed?.sha ?? (await this.findRoot(run, whole.sha, where));
    return this.listSubtree(run, rootSha, this.root, where);
  }

  /** A subtree in one recursive call, or level by level when even that is truncated. */
  private async listSubtree(run: Run, sha: string, dir: string, where: string): Promise<TreeItem[]> {
    const tree = await this.getTree(run, sha, true, `listing "${dir}" in ${where}`);
    if (!tree.truncated) return tree.tree.map((item) => ({ ...item, path: `${dir}/${item.path}` }));
    return this.walk(run, sha, dir, where);
  }

  /** One level non-recursively, then each child directory as a subtree of its own. */
  private async walk(run: Run, sha: string, dir: string, where: string): Promise<TreeItem[]> {
    const level = await this.getTree(run, sha, false, `listing "${dir || '/'}" in ${where}`);
    if (level.truncated) {
      throw new GitHubSourceError(`listing "${dir || '/'}" in ${where}: GitHub truncated even the one-level listing of this directory; split it up`);
    }
    const items: TreeItem[] = [];
    for (const item of level.tree) {
      const path = dir === '' ? item.path : `${dir}/${item.path}`;
      items.push({ ...item, path });
      if (item.type === 'tree' && !item.path.startsWith('.')) items.push(...(await this.listSubtree(run, item.sha, path, where)));
    }
    return items;
  }

  /** The sha of the images root, one directory level at a time from the root tree. */
  private async findRoot(run: Run, rootTreeSha: string, where: string): Promise<string> {
    let sha = rootTreeSha;
    let dir = '';
    for (const name of this.root.split('/')) {
      const level = await this.getTree(run, sha, false, `listing "${dir || '/'}" in ${where}`);
      const child = level.tree.find((item) => item.path === name && item.type === 'tree');
      if (child === undefined) throw this.noRoot(where);
      sha = child.sha;
      dir = dir === '' ? name : `${dir}/${name}`;
    }
    return sha;
  }

  private async getTree(run: Run, treeSha: string, recursive: boolean, doing: string): Promise<GitTree> {
    const { data } = await this.call(run, doing, () =>
      this.octokit.rest.git.getTree({ owner: this.owner, repo: this.repo, tree_sha: treeSha, ...(recursive ? { recursive: 'true' } : {}) }),
    );
    return data;
  }

  /**
   * One GraphQL query for a batch. Reading by the blob ids of the listed tree pins the snapshot (a push between the
   * calls cannot mix two commits) and, as variables, keeps every path and id out of the query text.
   */
  private async readBatch(run: Run, batch: readonly { path: string; sha: string }[], doing: string): Promise<DockerfileEntry[]> {
    const variables: Record<string, string> = { owner: this.owner, name: this.repo };
    const declarations = ['$owner: String!', '$name: String!'];
    const fields = batch.map((file, index) => {
      variables[`o${index}`] = file.sha;
      declarations.push(`$o${index}: GitObjectID!`);
      return `f${index}: object(oid: $o${index}) { ... on Blob { ${BLOB_FIELDS} } }`;
    });
    const query = `query(${declarations.join(', ')}) { repository(owner: $owner, name: $name) { ${fields.join(' ')} } }`;

    let repository: Record<string, BlobFields | null> | null | undefined;
    let fileErrors = new Map<string, string>();
    try {
      run.apiCalls += 1;
      ({ repository } = await this.octokit.graphql<{ repository: Record<string, BlobFields | null> | null }>(query, variables));
    } catch (error) {
      const partial = perFileErrors(error, batch.length);
      if (partial === undefined) throw toSourceError(doing, error);
      ({ repository, fileErrors } = partial);
    }
    if (repository === null || repository === undefined) {
      throw new GitHubSourceError(`${doing}: GitHub answered with no repository: repository not found (or the token cannot see it)`);
    }
    const blobs = repository;
    return batch.map((file, index) => {
      const alias = `f${index}`;
      const error = fileErrors.get(alias);
      return error === undefined ? entryOf(file.path, file.sha, blobs[alias]) : { path: file.path, readError: `GitHub answered: ${error}` };
    });
  }

  private async call<T>(run: Run, doing: string, send: () => Promise<T>): Promise<T> {
    run.apiCalls += 1;
    try {
      return await send();
    } catch (error) {
      throw toSourceError(doing, error);
    }
  }

  /** A file or symbolic link (both blobs to git) below the images root: what the Dockerfile rules apply to. */
  private isBlobBelowRoot(item: TreeItem): boolean {
    return item.type === 'blob' && (this.root === '' || item.path.startsWith(`${this.root}/`));
  }

  private relative(path: string): string {
    return this.root === '' ? path : path.slice(this.root.length + 1);
  }

  private noRoot(where: string): GitHubSourceError {
    return new GitHubSourceError(`listing the tree of ${where}: there is no directory "${this.root}" in it`);
  }
}

function entryOf(path: string, sha: string, blob: BlobFields | null | undefined): DockerfileEntry {
  if (blob === null || blob === undefined) return { path, readError: `GitHub returned no object for blob ${sha}` };
  if (blob.byteSize === undefined) return { path, readError: `object ${sha} is not a blob` };
  if (blob.byteSize > MAX_DOCKERFILE_BYTES) return { path, readError: tooLarge(blob.byteSize) };
  if (blob.isBinary === true) return { path, readError: 'it is a binary file' };
  if (blob.isTruncated === true) return { path, readError: 'GitHub returned its text truncated' };
  if (typeof blob.text !== 'string') return { path, readError: 'GitHub returned no text for it' };
  return { path, text: blob.text };
}

/** Errors GitHub tied to single files of a batch (path `repository.fN`), when every error is one of those. */
function perFileErrors(error: unknown, size: number): { repository: Record<string, BlobFields | null> | null; fileErrors: Map<string, string> } | undefined {
  const errors = graphqlErrorsOf(error);
  const data = (error as { data?: { repository?: Record<string, BlobFields | null> | null } }).data;
  if (errors === undefined || errors.length === 0 || !data?.repository) return undefined;
  const fileErrors = new Map<string, string>();
  for (const item of errors) {
    const alias = item.path?.[1];
    if (item.path?.[0] !== 'repository' || typeof alias !== 'string' || !/^f\d+$/.test(alias) || Number(alias.slice(1)) >= size) return undefined;
    fileErrors.set(alias, item.message);
  }
  return { repository: data.repository, fileErrors };
}

/**
 * The `errors` of octokit's GraphqlResponseError (not exported by `octokit`, so recognised by shape), or of a GraphQL
 * answer that octokit's retry plugin rethrew as an HTTP 500 (it does so for "Something went wrong", even with retries off).
 */
function graphqlErrorsOf(error: unknown): readonly GraphqlError[] | undefined {
  const errors =
    error instanceof RequestError
      ? (error.response?.data as { errors?: unknown } | undefined)?.errors
      : error instanceof Error && error.name === 'GraphqlResponseError'
        ? (error as { errors?: unknown }).errors
        : undefined;
  return Array.isArray(errors) ? (errors as GraphqlError[]) : undefined;
}

/** Says what went wrong in words an operator can act on; never quotes request headers, where the token lives. */
export function toSourceError(doing: string, error: unknown): GitHubSourceError {
  const graphqlErrors = graphqlErrorsOf(error);
  if (graphqlErrors !== undefined) {
    const headers = (error instanceof RequestError ? error.response?.headers : (error as { headers?: Record<string, unknown> }).headers) ?? {};
    const listed = graphqlErrors.map((item) => (item.type ? `${item.message} (${item.type})` : item.message)).join('; ');
    if (graphqlErrors.some((item) => item.type === 'RATE_LIMITED')) {
      const resetAt = resetOf(headers);
      return new GitHubSourceError(`${doing}: GitHub answered with GraphQL errors: rate limited${until(resetAt)}: ${listed}`, { cause: error, retryable: true, ...(resetAt ? { resetAt } : {}) });
    }
    // GitHub's own words for a query that failed on its side; octokit's retry plugin treats it as a 500 too.
    const transient = graphqlErrors.some((item) => /Something went wrong while executing your query/.test(item.message));
    return new GitHubSourceError(`${doing}: GitHub answered with GraphQL errors: ${listed}`, { cause: error, retryable: transient });
  }
  if (error instanceof RequestError) {
    const status = error.status;
    const response = error.response;
    if (response === undefined) {
      return new GitHubSourceError(`${doing}: could not reach GitHub: ${error.message}`, { cause: error, retryable: true });
    }
    const answered = `GitHub answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
    const headers = response.headers as Record<string, unknown>;
    const said = messageOf(response.data);
    if (status === 429 || (status === 403 && (headers['x-ratelimit-remaining'] === '0' || headers['retry-after'] !== undefined || /rate limit/i.test(said ?? '')))) {
      const resetAt = resetOf(headers);
      return new GitHubSourceError(`${doing}: ${answered}: rate limited${until(resetAt)}`, { status, cause: error, retryable: true, ...(resetAt ? { resetAt } : {}) });
    }
    if (status === 401) return new GitHubSourceError(`${doing}: ${answered} (bad, expired or missing token)`, { status, cause: error });
    if (status === 404) return new GitHubSourceError(`${doing}: ${answered}: repository or ref not found (or the token cannot see it)`, { status, cause: error });
    if (status >= 500) return new GitHubSourceError(`${doing}: ${answered}`, { status, cause: error, retryable: true });
    return new GitHubSourceError(`${doing}: ${answered}${said ? `: ${said}` : ''}`, { status, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  const timedOut = error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
  return new GitHubSourceError(`${doing}: ${message}`, { cause: error, retryable: timedOut });
}

/** When a rate limit lifts, in GitHub's documented order: `retry-after` seconds, else `x-ratelimit-reset` once nothing remains. */
function resetOf(headers: Record<string, unknown>): Date | undefined {
  const retryAfter = Number(headers['retry-after'] ?? Number.NaN);
  if (Number.isFinite(retryAfter) && retryAfter >= 0) return new Date(Date.now() + retryAfter * 1000);
  const reset = Number(headers['x-ratelimit-reset'] ?? Number.NaN);
  return headers['x-ratelimit-remaining'] === '0' && Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000) : undefined;
}

function until(resetAt: Date | undefined): string {
  // Without either header GitHub asks to wait at least a minute (secondary rate limits).
  return resetAt === undefined ? ' (wait at least a minute)' : ` until ${resetAt.toISOString()}`;
}

function messageOf(data: unknown): string | undefined {
  return typeof data === 'object' && data !== null && typeof (data as { message?: unknown }).message === 'string' ? (data as { message: string }).message : undefined;
}
