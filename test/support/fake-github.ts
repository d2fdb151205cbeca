import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A file of the fake repository: text, bytes, or a symbolic link to a target path. */
export type FakeFile = string | Uint8Array | { readonly symlink: string };

/** The GitHub endpoints the fake answers. */
export type FakeEndpoint = 'repo' | 'tree' | 'graphql' | 'commit';

export interface FakeGitHubOptions {
  readonly owner?: string;
  readonly repo?: string;
  readonly defaultBranch?: string;
  /** Files of the default branch, by path from the repository root. */
  readonly files: Readonly<Record<string, FakeFile>>;
  /** Other branches or tags, each with its own files. */
  readonly refs?: Readonly<Record<string, Readonly<Record<string, FakeFile>>>>;
  /** When set, requests must carry it (`token …` or `Bearer …`), as for a private repository. */
  readonly token?: string;
  /** Directories of the default branch ('' for the root) whose recursive listing comes back truncated, half missing. */
  readonly truncate?: readonly string[];
  /** Entries a recursive listing may hold before it is truncated (GitHub's limits: 100,000 entries, 7 MB). */
  readonly maxTreeEntries?: number;
  /** Paths listed in trees whose blob GraphQL cannot find (`object` answers null). */
  readonly unreadable?: readonly string[];
  /** Bytes of `Blob.text` returned before `isTruncated` is set; GitHub does not document its limit. */
  readonly blobTextLimit?: number;
  /** Called after each answer, e.g. to push a commit between two calls. */
  readonly onRequest?: (request: RecordedRequest) => void;
}

/** An injected answer for the next `times` requests to one endpoint. */
export interface Fault {
  /** How many requests get it; 1 when absent. */
  readonly times?: number;
  /** HTTP status, with GitHub's body for it; 200 with `graphqlErrors`. */
  readonly status?: number;
  /** Primary rate limit: `x-ratelimit-remaining: 0` and `x-ratelimit-reset`. */
  readonly rateLimited?: boolean;
  /** `x-ratelimit-reset` in epoch seconds. */
  readonly resetAt?: number;
  /** A GraphQL answer carrying these errors, and no data unless `partial`. */
  readonly graphqlErrors?: readonly Record<string, unknown>[];
  /** With `graphqlErrors`: answer the query too, the fields the errors' paths point at set to null (errors tied to fields). */
  readonly partial?: boolean;
  /** Drop the connection without answering. */
  readonly disconnect?: boolean;
  /** GitHub's `message` in the body, instead of the usual one for the status. */
  readonly message?: string;
  /** More response headers, e.g. `retry-after` for a secondary rate limit. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  readonly endpoint: FakeEndpoint | 'other';
  readonly body?: unknown;
  readonly status: number;
}

export interface FakeGitHub {
  /** Base URL for octokit's `baseUrl`. */
  readonly url: string;
  /** Every request seen, in order. */
  readonly requests: RecordedRequest[];
  /** The repository's blob and tree ids, for assertions: path → sha of the default branch. */
  shaOf(path: string): string | undefined;
  /** Answers the next requests to an endpoint with a fault. */
  setFault(endpoint: FakeEndpoint, fault: Fault): void;
  /** Replaces the files of a ref (the default branch when absent), as a push would; old objects stay readable. */
  push(files: Readonly<Record<string, FakeFile>>, ref?: string): void;
  close(): Promise<void>;
}

interface BlobObject {
  readonly type: 'blob';
  readonly content: Buffer;
}

interface TreeEntry {
  readonly name: string;
  readonly mode: string;
  readonly type: 'blob' | 'tree';
  readonly sha: string;
}

interface TreeObject {
  readonly type: 'tree';
  readonly entries: readonly TreeEntry[];
}

const JSON_TYPE = 'application/json; charset=utf-8';
const RATE_LIMIT = 5000;
const REST_DOCS = 'https://docs.github.com/rest';
/** GitHub's usual `message` for an error status on these endpoints. */
const ERROR_MESSAGES: Record<number, string> = {
  401: 'Bad credentials',
  403: 'Resource not accessible by personal access token',
  404: 'Not Found',
  409: 'Git Repository is empty.',
};

/**
 * A loopback stand-in for api.github.com: repository metadata, git trees, a ref's commit id (`GET …/commits/<ref>` with the
 * `application/vnd.github.sha` media type) and the GraphQL `object` field (by `oid`, or by `expression: "<ref>:<path>"`,
 * which answers a symbolic link with its own blob as GitHub does; a Tree's `entries` give modes), with injectable faults.
 * The fake keeps no commit objects: a ref's commit id is its root tree's id, which every endpoint takes as a ref.
 */
export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const owner = options.owner ?? 'octo';
  const repo = options.repo ?? 'images';
  const defaultBranch = options.defaultBranch ?? 'main';
  const store = new GitStore();
  const refs = new Map<string, string>();
  refs.set(defaultBranch, store.writeFiles(options.files));
  for (const [name, files] of Object.entries(options.refs ?? {})) refs.set(name, store.writeFiles(files));
  const defaultRoot = refs.get(defaultBranch) ?? '';
  const truncated = new Set((options.truncate ?? []).map((dir) => store.lookup(defaultRoot, dir)?.sha).filter((sha) => sha !== undefined));
  const unreadable = new Set((options.unreadable ?? []).map((path) => store.lookup(defaultRoot, path)?.sha).filter((sha) => sha !== undefined));
  const faults = new Map<FakeEndpoint, (Fault & { left: number })[]>();
  const requests: RecordedRequest[] = [];
  const used = { core: 0, graphql: 0 };
  const resetAt = Math.floor(Date.now() / 1000) + 3600;
  let base = '';

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw;
      }
      const route = routeOf(req.method ?? 'GET', url.pathname);
      const endpoint: FakeEndpoint | 'other' = route?.endpoint ?? 'other';
      const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        const resource = endpoint === 'graphql' ? 'graphql' : 'core';
        used[resource] += 1;
        res.writeHead(status, {
          'content-type': JSON_TYPE,
          'x-github-media-type': 'github.v3; format=json',
          'x-github-api-version-selected': '2022-11-28',
          'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
          'x-ratelimit-limit': String(RATE_LIMIT),
          'x-ratelimit-remaining': String(Math.max(RATE_LIMIT - used[resource], 0)),
          'x-ratelimit-reset': String(resetAt),
          'x-ratelimit-used': String(used[resource]),
          'x-ratelimit-resource': resource,
          ...headers,
        });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
        const record: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', endpoint, status, ...(body === undefined ? {} : { body }) };
        requests.push(record);
        options.onRequest?.(record);
      };

      const fault = route === undefined ? undefined : takeFault(faults, route.endpoint);
      if (fault?.disconnect) {
        requests.push({ method: req.method ?? '', path: req.url ?? '', endpoint, status: 0, ...(body === undefined ? {} : { body }) });
        req.socket.destroy();
        return;
      }
      if (fault && !fault.partial) return answerFault(fault, endpoint, answer);

      const denied = checkToken(options.token, req, endpoint);
      if (denied) return answer(denied.status, denied.body);
      const otherRepo = route !== undefined && route.endpoint !== 'graphql' && (route.owner.toLowerCase() !== owner.toLowerCase() || route.repo.toLowerCase() !== repo.toLowerCase());
      if (route === undefined || otherRepo) return answer(404, { message: 'Not Found', documentation_url: REST_DOCS, status: '404' });
      if (route.endpoint === 'repo') return answer(200, repositoryJson(base, owner, repo, defaultBranch));
      if (route.endpoint === 'commit') {
        const name = route.treeSha === 'HEAD' ? defaultBranch : route.treeSha;
        const sha = refs.get(name) ?? (store.get(name)?.type === 'tree' ? name : undefined);
        if (sha === undefined) return answer(422, { message: `No commit found for SHA: ${route.treeSha}`, documentation_url: `${REST_DOCS}/commits/commits#get-a-commit`, status: '422' });
        // Only the sha media type is served: the whole commit JSON is more than any caller here reads.
        if (!/application\/vnd\.github(?:\.v3)?\.sha/.test(String(req.headers.accept))) return answer(415, { message: 'the fake serves a commit as its sha only', documentation_url: REST_DOCS, status: '415' });
        return answer(200, sha, { 'content-type': 'application/vnd.github.sha; charset=utf-8', 'x-github-media-type': 'github.v3; param=sha' });
      }
      if (route.endpoint === 'tree') {
        const sha = refs.get(route.treeSha) ?? (store.get(route.treeSha)?.type === 'tree' ? route.treeSha : undefined);
        if (sha === undefined) return answer(404, { message: 'Not Found', documentation_url: `${REST_DOCS}/git/trees#get-a-tree`, status: '404' });
        const treeUrl = (id: string) => `${base}/repos/${owner}/${repo}/git/trees/${id}`;
        const blobUrl = (id: string) => `${base}/repos/${owner}/${repo}/git/blobs/${id}`;
        const recursive = url.searchParams.has('recursive');
        let entries = recursive ? store.listRecursive(sha) : store.listLevel(sha);
        let cut = false;
        if (recursive && truncated.has(sha)) [entries, cut] = [entries.slice(0, Math.ceil(entries.length / 2)), true];
        if (recursive && options.maxTreeEntries !== undefined && entries.length > options.maxTreeEntries) [entries, cut] = [entries.slice(0, options.maxTreeEntries), true];
        return answer(200, {
          sha,
          url: treeUrl(sha),
          tree: entries.map((entry) => ({
            path: entry.path,
            mode: entry.mode,
            type: entry.type,
            sha: entry.sha,
            ...(entry.type === 'blob' ? { size: store.blob(entry.sha).content.length, url: blobUrl(entry.sha) } : { url: treeUrl(entry.sha) }),
          })),
          truncated: cut,
        });
      }
      if (typeof body !== 'object' || body === null) return answer(400, { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/graphql' });
      const { query, variables } = body as { query?: unknown; variables?: unknown };
      const resolver: Resolver = {
        repository: (ownerArg, nameArg) => ownerArg.toLowerCase() === owner.toLowerCase() && nameArg.toLowerCase() === repo.toLowerCase(),
        object: (oid, expression) => {
          if (oid !== undefined) return unreadable.has(oid) ? undefined : store.found(oid);
          if (expression === undefined) return undefined;
          const colon = expression.indexOf(':');
          const refName = colon < 0 ? expression : expression.slice(0, colon);
          const root = refs.get(refName === 'HEAD' ? defaultBranch : refName) ?? (store.get(refName)?.type === 'tree' ? refName : undefined);
          if (root === undefined) return undefined;
          const found = colon < 0 ? { sha: root } : store.lookup(root, expression.slice(colon + 1));
          return found === undefined || unreadable.has(found.sha) ? undefined : store.found(found.sha);
        },
        blobTextLimit: options.blobTextLimit ?? 512 * 1024,
        fullName: `${owner}/${repo}`,
      };
      const result = executeGraphql(typeof query === 'string' ? query : '', isRecord(variables) ? variables : {}, resolver);
      if (fault?.partial && fault.graphqlErrors) {
        for (const error of fault.graphqlErrors) setNull(result.data, Array.isArray(error.path) ? (error.path as string[]) : []);
        result.errors = [...(Array.isArray(result.errors) ? result.errors : []), ...fault.graphqlErrors];
      }
      return answer(200, result);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    requests,
    shaOf: (path) => store.lookup(refs.get(defaultBranch) ?? '', path)?.sha,
    setFault: (endpoint, fault) => {
      const list = faults.get(endpoint) ?? [];
      list.push({ ...fault, left: fault.times ?? 1 });
      faults.set(endpoint, list);
    },
    push: (files, ref = defaultBranch) => {
      refs.set(ref, store.writeFiles(files));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Route = { endpoint: 'repo' | 'tree' | 'commit'; owner: string; repo: string; treeSha: string } | { endpoint: 'graphql'; owner: ''; repo: ''; treeSha: '' };

function routeOf(method: string, pathname: string): Route | undefined {
  if (method === 'POST' && pathname === '/graphql') return { endpoint: 'graphql', owner: '', repo: '', treeSha: '' };
  if (method !== 'GET') return undefined;
  const repoMatch = /^\/repos\/([^/]+)\/([^/]+)$/.exec(pathname);
  if (repoMatch) return { endpoint: 'repo', owner: decodeURIComponent(repoMatch[1] ?? ''), repo: decodeURIComponent(repoMatch[2] ?? ''), treeSha: '' };
  const commitMatch = /^\/repos\/([^/]+)\/([^/]+)\/commits\/(.+)$/.exec(pathname);
  if (commitMatch) {
    return { endpoint: 'commit', owner: decodeURIComponent(commitMatch[1] ?? ''), repo: decodeURIComponent(commitMatch[2] ?? ''), treeSha: decodeURIComponent(commitMatch[3] ?? '') };
  }
  const treeMatch = /^\/repos\/([^/]+)\/([^/]+)\/git\/trees\/(.+)$/.exec(pathname);
  if (treeMatch) {
    return { endpoint: 'tree', owner: decodeURIComponent(treeMatch[1] ?? ''), repo: decodeURIComponent(treeMatch[2] ?? ''), treeSha: decodeURIComponent(treeMatch[3] ?? '') };
  }
  return undefined;
}

function takeFault(faults: Map<FakeEndpoint, (Fault & { left: number })[]>, endpoint: FakeEndpoint): Fault | undefined {
  const fault = faults.get(endpoint)?.find((candidate) => candidate.left > 0);
  if (fault) fault.left -= 1;
  return fault;
}

function answerFault(fault: Fault, endpoint: FakeEndpoint | 'other', answer: (status: number, payload: unknown, headers?: Record<string, string>) => void): void {
  const limited: Record<string, string> = {
    ...(fault.rateLimited ? { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': String(fault.resetAt ?? Math.floor(Date.now() / 1000) + 600) } : {}),
    ...fault.headers,
  };
  if (fault.graphqlErrors) return answer(fault.status ?? 200, { errors: fault.graphqlErrors }, limited);
  const status = fault.status ?? 500;
  if (status === 502) {
    return answer(status, '<html><body><h1>502 Bad Gateway</h1></body></html>', { 'content-type': 'text/html; charset=utf-8', ...limited });
  }
  const docs = endpoint === 'graphql' ? 'https://docs.github.com/graphql' : REST_DOCS;
  const rateLimitMessage = `API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID ${randomBytes(4).toString('hex').toUpperCase()}.`;
  const message = fault.message ?? (status === 403 && fault.rateLimited ? rateLimitMessage : (ERROR_MESSAGES[status] ?? (status >= 500 ? 'Server Error' : (STATUS_CODES[status] ?? 'Error'))));
  const documentation = status === 403 && fault.rateLimited ? `${REST_DOCS}/overview/rate-limits-for-the-rest-api` : docs;
  return answer(status, { message, documentation_url: documentation, status: String(status) }, limited);
}

function checkToken(token: string | undefined, req: IncomingMessage, endpoint: FakeEndpoint | 'other'): { status: number; body: unknown } | undefined {
  if (token === undefined) return undefined;
  const header = req.headers.authorization;
  if (header === undefined) {
    // GraphQL always needs a token; REST hides a private repository from anonymous callers.
    return endpoint === 'graphql'
      ? { status: 401, body: { message: 'This endpoint requires you to be authenticated.', documentation_url: 'https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql' } }
      : { status: 404, body: { message: 'Not Found', documentation_url: REST_DOCS, status: '404' } };
  }
  const given = /^(?:token|bearer)\s+(.+)$/i.exec(header)?.[1];
  return given === token ? undefined : { status: 401, body: { message: 'Bad credentials', documentation_url: REST_DOCS, status: '401' } };
}

function repositoryJson(base: string, owner: string, repo: string, defaultBranch: string): Record<string, unknown> {
  const api = `${base}/repos/${owner}/${repo}`;
  const html = `https://github.com/${owner}/${repo}`;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    id: 1296269,
    node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5',
    name: repo,
    full_name: `${owner}/${repo}`,
    private: true,
    owner: { login: owner, id: 1, node_id: 'MDQ6VXNlcjE=', avatar_url: 'https://github.com/images/error/octocat_happy.gif', url: `${base}/users/${owner}`, html_url: `https://github.com/${owner}`, type: 'Organization', site_admin: false },
    html_url: html,
    description: 'Images to mirror',
    fork: false,
    url: api,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    commits_url: `${api}/commits{/sha}`,
    contents_url: `${api}/contents/{+path}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${html}.git`,
    git_url: `git://github.com/${owner}/${repo}.git`,
    ssh_url: `git@github.com:${owner}/${repo}.git`,
    svn_url: html,
    mirror_url: null,
    homepage: null,
    language: 'Dockerfile',
    forks_count: 0,
    stargazers_count: 0,
    watchers_count: 0,
    size: 108,
    default_branch: defaultBranch,
    open_issues_count: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: false,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: 'private',
    pushed_at: now,
    created_at: '2024-01-26T19:01:12Z',
    updated_at: now,
    permissions: { admin: false, maintain: false, push: false, triage: false, pull: true },
    allow_forking: true,
    web_commit_signoff_required: false,
    subscribers_count: 1,
    network_count: 0,
    license: null,
    forks: 0,
    open_issues: 0,
    watchers: 0,
  };
}

function setNull(data: unknown, path: readonly string[]): void {
  const parent = path.slice(0, -1).reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), data);
  const last = path.at(-1);
  if (isRecord(parent) && last !== undefined) parent[last] = null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Git objects addressed by their real git ids, so that equal contents share an id as on GitHub. */
class GitStore {
  private readonly objects = new Map<string, BlobObject | TreeObject>();

  get(sha: string): BlobObject | TreeObject | undefined {
    return this.objects.get(sha);
  }

  /** An object with its id, as GraphQL's `object` field needs it. */
  found(sha: string): { sha: string; object: BlobObject | TreeObject } | undefined {
    const object = this.objects.get(sha);
    return object === undefined ? undefined : { sha, object };
  }

  blob(sha: string): BlobObject {
    const object = this.objects.get(sha);
    if (object?.type !== 'blob') throw new Error(`no blob ${sha}`);
    return object;
  }

  /** Writes a whole tree from a flat path → file map and returns the root tree id. */
  writeFiles(files: Readonly<Record<string, FakeFile>>): string {
    return this.writeTree(Object.entries(files).map(([path, file]) => [path.split('/'), file]));
  }

  /** The entry at a path below a tree ('' is the tree itself). */
  lookup(treeSha: string, path: string): { sha: string; type: 'blob' | 'tree' } | undefined {
    let current: { sha: string; type: 'blob' | 'tree' } = { sha: treeSha, type: 'tree' };
    for (const name of path.split('/').filter(Boolean)) {
      const tree = this.objects.get(current.sha);
      const entry = tree?.type === 'tree' ? tree.entries.find((candidate) => candidate.name === name) : undefined;
      if (entry === undefined) return undefined;
      current = entry;
    }
    return current;
  }

  listLevel(treeSha: string): (TreeEntry & { path: string })[] {
    const tree = this.objects.get(treeSha);
    return tree?.type === 'tree' ? tree.entries.map((entry) => ({ ...entry, path: entry.name })) : [];
  }

  /** Like `git ls-tree -r -t`: each directory, then what it holds. */
  listRecursive(treeSha: string, prefix = ''): (TreeEntry & { path: string })[] {
    return this.listLevel(treeSha).flatMap((entry) => {
      const path = `${prefix}${entry.name}`;
      return entry.type === 'tree' ? [{ ...entry, path }, ...this.listRecursive(entry.sha, `${path}/`)] : [{ ...entry, path }];
    });
  }

  private writeTree(files: [string[], FakeFile][]): string {
    const blobs = new Map<string, FakeFile>();
    const dirs = new Map<string, [string[], FakeFile][]>();
    for (const [segments, file] of files) {
      const [name, ...rest] = segments;
      if (name === undefined || name === '') throw new Error(`bad path ${segments.join('/')}`);
      if (rest.length === 0) blobs.set(name, file);
      else dirs.set(name, [...(dirs.get(name) ?? []), [rest, file]]);
    }
    const entries: TreeEntry[] = [];
    for (const [name, file] of blobs) {
      if (dirs.has(name)) throw new Error(`${name} is both a file and a directory`);
      const symlink = typeof file === 'object' && 'symlink' in file;
      const content = symlink ? Buffer.from(file.symlink) : Buffer.from(file as string | Uint8Array);
      entries.push({ name, mode: symlink ? '120000' : '100644', type: 'blob', sha: this.writeObject({ type: 'blob', content }) });
    }
    for (const [name, children] of dirs) entries.push({ name, mode: '040000', type: 'tree', sha: this.writeTree(children) });
    // Git orders entries by name, a directory's name compared as if it ended with '/'.
    const key = (entry: TreeEntry) => Buffer.from(entry.type === 'tree' ? `${entry.name}/` : entry.name);
    entries.sort((a, b) => Buffer.compare(key(a), key(b)));
    return this.writeObject({ type: 'tree', entries });
  }

  private writeObject(object: BlobObject | TreeObject): string {
    const payload =
      object.type === 'blob'
        ? object.content
        : Buffer.concat(object.entries.map((entry) => Buffer.concat([Buffer.from(`${entry.mode.replace(/^0/, '')} ${entry.name}\0`), Buffer.from(entry.sha, 'hex')])));
    const sha = createHash('sha1').update(`${object.type} ${payload.length}\0`).update(payload).digest('hex');
    this.objects.set(sha, object);
    return sha;
  }
}

// ---- GraphQL: the subset of GitHub's schema the source uses, parsed for real so that malformed queries fail as on GitHub.

interface Resolver {
  repository(owner: string, name: string): boolean;
  object(oid: string | undefined, expression: string | undefined): { sha: string; object: BlobObject | TreeObject } | undefined;
  readonly blobTextLimit: number;
  readonly fullName: string;
}

type Value = { kind: 'variable'; name: string } | { kind: 'string'; value: string } | { kind: 'other'; value: string };

interface FieldNode {
  readonly kind: 'field';
  readonly alias?: string;
  readonly name: string;
  readonly args: ReadonlyMap<string, Value>;
  readonly selections?: readonly SelectionNode[];
  readonly line: number;
  readonly column: number;
}

interface FragmentNode {
  readonly kind: 'fragment';
  readonly on: string;
  readonly selections: readonly SelectionNode[];
}

type SelectionNode = FieldNode | FragmentNode;

interface Operation {
  readonly type: string;
  readonly variables: ReadonlyMap<string, string>;
  readonly selections: readonly SelectionNode[];
}

interface Token {
  readonly kind: 'punct' | 'name' | 'string' | 'number' | 'eof';
  readonly value: string;
  readonly line: number;
  readonly column: number;
}

class GraphqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

const TOKEN_NAMES: Record<string, string> = { '{': 'LCURLY', '}': 'RCURLY', '(': 'LPAREN', ')': 'RPAREN', ':': 'COLON', '$': 'VAR_SIGN', '!': 'BANG', '[': 'LBRACKET', ']': 'RBRACKET', '=': 'EQUALS', '...': 'ELLIPSIS' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  let line = 1;
  let lineStart = 0;
  while (index < source.length) {
    const char = source[index] ?? '';
    const column = index - lineStart + 1;
    if (char === '\n') {
      index += 1;
      line += 1;
      lineStart = index;
    } else if (/[\s,\uFEFF]/.test(char)) {
      index += 1;
    } else if (char === '#') {
      while (index < source.length && source[index] !== '\n') index += 1;
    } else if (source.startsWith('...', index)) {
      tokens.push({ kind: 'punct', value: '...', line, column });
      index += 3;
    } else if ('{}():$![]=@|'.includes(char)) {
      tokens.push({ kind: 'punct', value: char, line, column });
      index += 1;
    } else if (char === '"') {
      let end = index + 1;
      while (end < source.length && source[end] !== '"') end += source[end] === '\\' ? 2 : 1;
      if (end >= source.length) throw new GraphqlSyntaxError('Unterminated string', line, column);
      let value: string;
      try {
        value = JSON.parse(source.slice(index, end + 1)) as string;
      } catch {
        throw new GraphqlSyntaxError(`Bad unicode escape in ${source.slice(index, end + 1)}`, line, column);
      }
      tokens.push({ kind: 'string', value, line, column });
      index = end + 1;
    } else {
      const match = /^(?:[_A-Za-z][_0-9A-Za-z]*|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(source.slice(index));
      if (!match) throw new GraphqlSyntaxError(`Parse error on "${char}" (error) at [${line}, ${column}]`, line, column);
      tokens.push({ kind: /^[_A-Za-z]/.test(match[0]) ? 'name' : 'number', value: match[0], line, column });
      index += match[0].length;
    }
  }
  tokens.push({ kind: 'eof', value: '', line, column: index - lineStart + 1 });
  return tokens;
}

function parseOperation(source: string): Operation {
  const tokens = tokenize(source);
  let position = 0;
  const peek = () => tokens[position] as Token;
  const unexpected = (token: Token): never => {
    if (token.kind === 'eof') throw new GraphqlSyntaxError('Unexpected end of document', token.line, token.column);
    const name = token.kind === 'punct' ? (TOKEN_NAMES[token.value] ?? 'PUNCT') : token.kind === 'name' ? 'IDENTIFIER' : token.kind.toUpperCase();
    throw new GraphqlSyntaxError(`Parse error on ${JSON.stringify(token.value)} (${name}) at [${token.line}, ${token.column}]`, token.line, token.column);
  };
  const expect = (value: string): Token => {
    const token = peek();
    if (token.value !== value || (token.kind !== 'punct' && token.kind !== 'name')) unexpected(token);
    position += 1;
    return token;
  };
  const name = (): Token => {
    const token = peek();
    if (token.kind !== 'name') unexpected(token);
    position += 1;
    return token;
  };
  const typeRef = (): string => {
    if (peek().value === '[') {
      expect('[');
      const inner = typeRef();
      expect(']');
      return `[${inner}]${peek().value === '!' ? (expect('!'), '!') : ''}`;
    }
    const type = name().value;
    return peek().value === '!' ? (expect('!'), `${type}!`) : type;
  };
  const value = (): Value => {
    const token = peek();
    if (token.value === '$' && token.kind === 'punct') {
      expect('$');
      return { kind: 'variable', name: name().value };
    }
    if (token.kind === 'string') {
      position += 1;
      return { kind: 'string', value: token.value };
    }
    if (token.kind === 'name' || token.kind === 'number') {
      position += 1;
      return { kind: 'other', value: token.value };
    }
    return unexpected(token);
  };
  const selectionSet = (): SelectionNode[] => {
    expect('{');
    const selections: SelectionNode[] = [];
    while (peek().value !== '}' || peek().kind !== 'punct') {
      if (peek().value === '...' && peek().kind === 'punct') {
        expect('...');
        expect('on');
        const on = name().value;
        selections.push({ kind: 'fragment', on, selections: selectionSet() });
        continue;
      }
      const first = name();
      let alias: string | undefined;
      let field = first;
      if (peek().value === ':' && peek().kind === 'punct') {
        expect(':');
        alias = first.value;
        field = name();
      }
      const args = new Map<string, Value>();
      if (peek().value === '(' && peek().kind === 'punct') {
        expect('(');
        while (peek().value !== ')' || peek().kind !== 'punct') {
          const argName = name().value;
          expect(':');
          args.set(argName, value());
        }
        expect(')');
      }
      const nested = peek().value === '{' && peek().kind === 'punct' ? selectionSet() : undefined;
      selections.push({ kind: 'field', ...(alias === undefined ? {} : { alias }), name: field.value, args, ...(nested ? { selections: nested } : {}), line: field.line, column: field.column });
    }
    expect('}');
    return selections;
  };

  let type = 'query';
  const variables = new Map<string, string>();
  if (peek().kind === 'name') {
    type = name().value;
    if (peek().kind === 'name') name();
    if (peek().value === '(' && peek().kind === 'punct') {
      expect('(');
      while (peek().value !== ')' || peek().kind !== 'punct') {
        expect('$');
        const variable = name().value;
        expect(':');
        variables.set(variable, typeRef());
        if (peek().value === '=') {
          expect('=');
          value();
        }
      }
      expect(')');
    }
  }
  const selections = selectionSet();
  if (peek().kind !== 'eof') unexpected(peek());
  return { type, variables, selections };
}

const FIELDS: Record<string, readonly string[]> = {
  Query: ['repository', '__typename'],
  Repository: ['object', 'name', 'nameWithOwner', '__typename'],
  Blob: ['byteSize', 'isBinary', 'isTruncated', 'text', 'oid', 'abbreviatedOid', '__typename'],
  Tree: ['entries', 'oid', 'abbreviatedOid', '__typename'],
  // https://docs.github.com/en/graphql/reference/objects#treeentry: `mode` is git's octal mode as a decimal Int (a link is 40960).
  TreeEntry: ['name', 'mode', 'type', 'oid', 'object', '__typename'],
  GitObject: ['oid', 'abbreviatedOid', '__typename'],
};

/** Runs a query against the fake repository, answering as GitHub does: validation errors with no data, or data with per-field errors. */
function executeGraphql(query: string, variables: Record<string, unknown>, resolver: Resolver): Record<string, unknown> {
  let operation: Operation;
  try {
    operation = parseOperation(query);
  } catch (error) {
    if (!(error instanceof GraphqlSyntaxError)) throw error;
    return { errors: [{ message: error.message, locations: [{ line: error.line, column: error.column }] }] };
  }
  if (operation.type !== 'query') {
    return { errors: [{ message: `Schema is not configured for ${operation.type}s`, locations: [{ line: 1, column: 1 }] }] };
  }
  const errors: Record<string, unknown>[] = [];
  const used = new Set<string>();
  const validate = (selections: readonly SelectionNode[], type: string, path: string[]) => {
    for (const selection of selections) {
      if (selection.kind === 'fragment') {
        if (!(selection.on in FIELDS)) errors.push({ message: `No such type ${selection.on}, so it can't be a fragment condition`, path, extensions: { code: 'undefinedType', typeName: selection.on } });
        else validate(selection.selections, selection.on, path);
        continue;
      }
      const fieldPath = [...path, selection.alias ?? selection.name];
      if (!(FIELDS[type] ?? []).includes(selection.name)) {
        errors.push({
          path: fieldPath,
          extensions: { code: 'undefinedField', typeName: type, fieldName: selection.name },
          locations: [{ line: selection.line, column: selection.column }],
          message: `Field '${selection.name}' doesn't exist on type '${type}'`,
        });
        continue;
      }
      for (const argument of selection.args.values()) if (argument.kind === 'variable') used.add(argument.name);
      const nestedType = selection.name === 'repository' ? 'Repository' : selection.name === 'object' ? 'GitObject' : selection.name === 'entries' ? 'TreeEntry' : undefined;
      if (nestedType !== undefined && selection.selections === undefined) {
        errors.push({ path: fieldPath, locations: [{ line: selection.line, column: selection.column }], message: `Field must have selections (field '${selection.name}' returns ${nestedType} but has no selections. Did you mean '${selection.name} { ... }'?)` });
      }
      if (nestedType !== undefined && selection.selections !== undefined) validate(selection.selections, nestedType, fieldPath);
    }
  };
  validate(operation.selections, 'Query', ['query']);
  for (const variable of used) {
    if (!operation.variables.has(variable)) errors.push({ path: ['query'], extensions: { code: 'variableNotDefined', variableName: variable }, message: `Variable $${variable} is used by anonymous query but not declared` });
  }
  for (const [variable, type] of operation.variables) {
    if (!used.has(variable)) errors.push({ path: ['query'], extensions: { code: 'variableNotUsed', variableName: variable }, message: `Variable $${variable} is declared by anonymous query but not used` });
    const given = variables[variable];
    const valid = given === undefined || given === null ? !type.endsWith('!') : type.startsWith('GitObjectID') ? typeof given === 'string' && /^[0-9a-f]{40}$/i.test(given) : type.startsWith('String') ? typeof given === 'string' : true;
    if (!valid) errors.push({ extensions: { value: given ?? null, problems: [{ path: [], explanation: given === undefined || given === null ? 'Expected value to not be null' : `Could not coerce value ${JSON.stringify(given)} to ${type.replace('!', '')}` }] }, locations: [{ line: 1, column: 7 }], message: `Variable $${variable} of type ${type} was provided invalid value` });
  }
  if (errors.length > 0) return { errors };

  const argument = (field: FieldNode, name: string): string | undefined => {
    const node = field.args.get(name);
    if (node === undefined) return undefined;
    if (node.kind === 'variable') {
      const given = variables[node.name];
      return typeof given === 'string' ? given : undefined;
    }
    return node.value;
  };
  const runtimeErrors: Record<string, unknown>[] = [];
  const data: Record<string, unknown> = {};
  const objectFields = (oid: string, object: BlobObject | TreeObject, selections: readonly SelectionNode[], out: Record<string, unknown>) => {
    const typeName = object.type === 'blob' ? 'Blob' : 'Tree';
    for (const selection of selections) {
      if (selection.kind === 'fragment') {
        if (selection.on === typeName || selection.on === 'GitObject') objectFields(oid, object, selection.selections, out);
        continue;
      }
      const key = selection.alias ?? selection.name;
      if (selection.name === '__typename') out[key] = typeName;
      else if (selection.name === 'oid' || selection.name === 'abbreviatedOid') out[key] = selection.name === 'oid' ? oid : oid.slice(0, 7);
      else if (object.type === 'blob') {
        const binary = object.content.subarray(0, 8000).includes(0);
        const cut = object.content.length > resolver.blobTextLimit;
        if (selection.name === 'byteSize') out[key] = object.content.length;
        else if (selection.name === 'isBinary') out[key] = binary;
        else if (selection.name === 'isTruncated') out[key] = !binary && cut;
        else if (selection.name === 'text') out[key] = binary ? null : object.content.subarray(0, resolver.blobTextLimit).toString('utf8');
      } else if (selection.name === 'entries') {
        out[key] = object.entries.map((entry) => treeEntryFields(entry, selection.selections ?? []));
      }
    }
  };
  const treeEntryFields = (entry: TreeEntry, selections: readonly SelectionNode[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const selection of selections) {
      if (selection.kind === 'fragment') continue;
      const key = selection.alias ?? selection.name;
      if (selection.name === '__typename') out[key] = 'TreeEntry';
      else if (selection.name === 'name') out[key] = entry.name;
      else if (selection.name === 'mode') out[key] = Number.parseInt(entry.mode, 8);
      else if (selection.name === 'type') out[key] = entry.type;
      else if (selection.name === 'oid') out[key] = entry.sha;
      else if (selection.name === 'object') {
        const found = resolver.object(entry.sha, undefined);
        const fields: Record<string, unknown> = {};
        if (found !== undefined) objectFields(found.sha, found.object, selection.selections ?? [], fields);
        out[key] = found === undefined ? null : fields;
      }
    }
    return out;
  };
  for (const top of operation.selections) {
    if (top.kind !== 'field') continue;
    const key = top.alias ?? top.name;
    if (top.name === '__typename') {
      data[key] = 'Query';
      continue;
    }
    const ownerArg = argument(top, 'owner') ?? '';
    const nameArg = argument(top, 'name') ?? '';
    if (!resolver.repository(ownerArg, nameArg)) {
      data[key] = null;
      runtimeErrors.push({ type: 'NOT_FOUND', path: [key], locations: [{ line: top.line, column: top.column }], message: `Could not resolve to a Repository with the name '${ownerArg}/${nameArg}'.` });
      continue;
    }
    const repository: Record<string, unknown> = {};
    for (const field of top.selections ?? []) {
      if (field.kind !== 'field') continue;
      const fieldKey = field.alias ?? field.name;
      if (field.name === '__typename') repository[fieldKey] = 'Repository';
      else if (field.name === 'name') repository[fieldKey] = resolver.fullName.split('/')[1];
      else if (field.name === 'nameWithOwner') repository[fieldKey] = resolver.fullName;
      else if (field.name === 'object') {
        const found = resolver.object(argument(field, 'oid'), argument(field, 'expression'));
        if (found === undefined) {
          repository[fieldKey] = null;
        } else {
          const out: Record<string, unknown> = {};
          objectFields(found.sha, found.object, field.selections ?? [], out);
          repository[fieldKey] = out;
        }
      }
    }
    data[key] = repository;
  }
  return runtimeErrors.length > 0 ? { data, errors: runtimeErrors } : { data };
}
