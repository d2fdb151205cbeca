import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { describeError } from '../errors.ts';
import { DOCKER_HUB, normaliseRegistryHost } from '../image-ref/reference.ts';
import { isRecord } from '../json.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';
import { rememberCredential, safeText } from '../safe-text.ts';
import { decodeLogin } from './credentials.ts';

// Docker's own logins, as `docker login` leaves them: `auths` in config.json, or a credential helper
// (https://docs.docker.com/reference/cli/docker/login/#credential-stores, the protocol of
// https://github.com/docker/docker-credential-helpers). Nothing read here is ever printed.

/** The environment the config and its helpers are found through: DOCKER_CONFIG, HOME, PATH; the helpers get all of it. */
export type DockerEnv = Readonly<Record<string, string | undefined>>;

/** What Docker's config.json says about logins, keyed by the registry hosts the rest of the code uses (`docker.io`). */
export interface DockerConfig {
  /** Where it was read: named in warnings. */
  readonly path: string;
  /** Logins stored in the file itself (`auth`, or `username` and `password`). */
  readonly auths: ReadonlyMap<string, RegistryCredential>;
  /** The helper of each registry that has its own (`credHelpers`). */
  readonly credHelpers: ReadonlyMap<string, string>;
  /** The helper of every other registry (`credsStore`). */
  readonly credsStore?: string;
}

/** What a credential helper answered: a login, none for that server, or no such helper on PATH. */
export type HelperAnswer = { readonly kind: 'login'; readonly credential: RegistryCredential } | { readonly kind: 'none' } | { readonly kind: 'not-installed' };

/** Asks `docker-credential-<helper>` for the login of `serverUrl`; throws, saying why, when the helper fails. */
export type CredentialHelper = (helper: string, serverUrl: string) => Promise<HelperAnswer>;

/** The key Docker Hub's login is stored under, by `docker login` and by the helpers. */
export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/** What a helper may say it has none: the protocol's own words (docker-credential-helpers, credentials/error.go). */
const NOT_FOUND = /credentials not found/i;

/** A helper is a program name: `docker-credential-<name>` found on PATH, never a path. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A helper that asks the user (a keychain to unlock) may take a while; one that never answers must not hold the run. */
const HELPER_TIMEOUT_MS = 30_000;

/** The most of a helper's answer read: a login is a few KiB at most. */
const MAX_HELPER_OUTPUT = 64 * 1024;

/** `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; undefined when neither variable is set. */
export function dockerConfigPath(env: DockerEnv): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  return env.HOME ? join(env.HOME, '.docker', 'config.json') : undefined;
}

/**
 * Reads Docker's config.json; undefined when there is none. One that cannot be read or parsed is a warning, never an
 * error: the run goes on without its logins, as it would without the file.
 */
export async function loadDockerConfig(env: DockerEnv, warn: (message: string) => void): Promise<DockerConfig | undefined> {
  const path = dockerConfigPath(env);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') warn(`Docker's config ${path} cannot be read (${code ?? describeError(error)}): going on without its logins`);
    return undefined;
  }
  return parseDockerConfig(text, path, warn);
}

/**
 * Parses config.json's `auths`, `credHelpers` and `credsStore`. Keys may be Docker Hub's `https://index.docker.io/v1/`,
 * URLs or bare hosts: each becomes the registry host it names, and a key that names none is passed over (no run can
 * ask for it). Warnings name the file and the registry, never a value.
 */
export function parseDockerConfig(text: string, path: string, warn: (message: string) => void): DockerConfig {
  const empty: DockerConfig = { path, auths: new Map(), credHelpers: new Map() };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be a password.
    warn(`Docker's config ${path} is not valid JSON: going on without its logins`);
    return empty;
  }
  if (!isRecord(data)) {
    warn(`Docker's config ${path} is not a JSON object: going on without its logins`);
    return empty;
  }
  const auths = new Map<string, RegistryCredential>();
  for (const [key, entry] of byPreference(isRecord(data.auths) ? data.auths : {})) {
    const registry = registryOf(key);
    if (registry === undefined || auths.has(registry) || !isRecord(entry)) continue;
    const credential = storedLogin(entry);
    if (credential === 'invalid') warn(`Docker's config ${path}: the "auth" of ${registry} is not base64 of user:password: ignored`);
    else if (credential !== undefined) auths.set(registry, credential);
  }
  const credHelpers = new Map<string, string>();
  for (const [key, helper] of byPreference(isRecord(data.credHelpers) ? data.credHelpers : {})) {
    const registry = registryOf(key);
    if (registry !== undefined && !credHelpers.has(registry) && typeof helper === 'string' && helper !== '') credHelpers.set(registry, helper);
  }
  const credsStore = typeof data.credsStore === 'string' && data.credsStore !== '' ? data.credsStore : undefined;
  return { path, auths, credHelpers, ...(credsStore === undefined ? {} : { credsStore }) };
}

/**
 * The logins of Docker's config.json, looked up only for the registries a run asks for, each once: the registry's own
 * helper (`credHelpers`), else the default one (`credsStore`), else what the file itself stores. A helper that fails is
 * a warning naming the registry and the helper, and the run goes on without that login.
 */
export class DockerConfigCredentialProvider implements CredentialProvider {
  private readonly found = new Map<string, Promise<RegistryCredential | undefined>>();
  /** Helpers already said to be missing: one warning each, not one per registry. */
  private readonly missing = new Set<string>();

  constructor(
    private readonly config: DockerConfig,
    private readonly options: { readonly helper: CredentialHelper; readonly warn: (message: string) => void },
  ) {}

  credentialsFor(registry: string): Promise<RegistryCredential | undefined> {
    let pending = this.found.get(registry);
    if (pending === undefined) {
      pending = this.lookUp(registry);
      this.found.set(registry, pending);
    }
    return pending;
  }

  /** Forgets a registry's login after the registry refused it: a helper's short-lived token is asked for again. */
  invalidate(registry: string): void {
    this.found.delete(registry);
  }

  private async lookUp(registry: string): Promise<RegistryCredential | undefined> {
    const helper = this.config.credHelpers.get(registry) ?? this.config.credsStore;
    // As Docker, a configured helper comes first; the file's own entry still serves where the helper has nothing.
    const credential = (helper === undefined ? undefined : await this.ask(helper, registry)) ?? this.config.auths.get(registry);
    if (credential !== undefined) rememberCredential(credential.username, credential.password);
    return credential;
  }

  private async ask(helper: string, registry: string): Promise<RegistryCredential | undefined> {
    const program = `docker-credential-${safeText(helper, 60)}`;
    let answer: HelperAnswer;
    try {
      answer = await this.options.helper(helper, registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry);
    } catch (error) {
      this.options.warn(`the login for ${registry} from Docker's credential helper ${program} failed: ${describeError(error)}: going on without it`);
      return undefined;
    }
    if (answer.kind === 'login') return answer.credential;
    if (answer.kind === 'not-installed' && !this.missing.has(helper)) {
      this.missing.add(helper);
      this.options.warn(`Docker's config ${this.config.path} names the credential helper ${program} (for ${registry}), which is not on PATH: going on without its logins`);
    }
    return undefined;
  }
}

/**
 * Runs credential helpers as Docker does: `docker-credential-<name> get`, found on the PATH of `env`, the server URL on
 * its standard input, an argument array, the user's environment (a keychain helper needs it); a JSON
 * `{ServerURL, Username, Secret}` back, or an exit status and "credentials not found" when it has none.
 */
export function credentialHelperRunner(env: DockerEnv): CredentialHelper {
  return async (helper, serverUrl) => {
    if (!HELPER_NAME.test(helper)) throw new Error(`"${safeText(helper, 60)}" is not a credential helper's name`);
    const program = `docker-credential-${helper}`;
    const command = await findOnPath(program, env.PATH);
    if (command === undefined) return { kind: 'not-installed' };
    const run = await runHelper(command, serverUrl, env);
    if (run.code !== 0) {
      // The protocol's own errors ("credentials not found in native keychain") come on stdout.
      if (NOT_FOUND.test(`${run.stdout}\n${run.stderr}`)) return { kind: 'none' };
      // Only stderr is quoted: a helper that printed its JSON answer and then failed would put the secret in the warning.
      const last = run.stderr.trim().split('\n').at(-1)?.trim();
      throw new Error(`"${program} get" ${run.code === null ? `did not answer within ${HELPER_TIMEOUT_MS / 1000} s` : `exited with code ${run.code}`}${last ? `: ${safeText(last, 200)}` : ''}`);
    }
    return helperAnswer(run.stdout, program);
  };
}

/** The answer's login; an identity token (Username `<token>`) is an OAuth refresh token, which no registry takes as a password. */
function helperAnswer(stdout: string, program: string): HelperAnswer {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`"${program} get" answered with something other than the protocol's JSON`);
  }
  if (!isRecord(data) || typeof data.Username !== 'string' || typeof data.Secret !== 'string') {
    throw new Error(`"${program} get" answered without string fields "Username" and "Secret"`);
  }
  if (data.Username === '<token>') throw new Error(`"${program} get" answered with an identity token, which only Docker itself can use`);
  if (data.Username === '' || data.Secret === '') return { kind: 'none' };
  return { kind: 'login', credential: Object.freeze({ username: data.Username, password: data.Secret }) };
}

/** How a helper's run ended; `code` null when it was ended for its time limit. */
interface HelperRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runHelper(command: string, serverUrl: string, env: DockerEnv): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const childEnv = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const child = spawn(command, ['get'], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A process the helper started may hold its pipes open after it is killed: 'close' would never come.
      child.stdout.destroy();
      child.stderr.destroy();
    }, HELPER_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_HELPER_OUTPUT) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_HELPER_OUTPUT) stderr += chunk;
    });
    // A helper that ends before reading its input closes the pipe: its exit status tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : (code ?? 1), stdout, stderr });
    });
    // Killed for its time limit, the helper has exited even when its pipes stay open: its answer is known then.
    child.on('exit', () => {
      if (timedOut) resolve({ code: null, stdout, stderr });
    });
  });
}

/** The first executable file named `program` in the directories of `path`. */
async function findOnPath(program: string, path: string | undefined): Promise<string | undefined> {
  for (const dir of (path ?? '').split(delimiter)) {
    // As Go's exec.LookPath: an empty or relative entry would run what the working directory holds (in CI, the checkout
    // of a pull request), not a program the user installed.
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    const isFile = await stat(candidate).then((found) => found.isFile(), () => false);
    if (isFile && (await access(candidate, constants.X_OK).then(() => true, () => false))) return candidate;
  }
  return undefined;
}

/**
 * A config object's entries, the key Docker itself would use for a registry first: Docker Hub's legacy server URL
 * (`https://index.docker.io/v1/`), then bare hosts, then URLs with a path; so that a stale alias (`docker.io`,
 * `registry-1.docker.io`) written before it does not shadow it.
 */
function byPreference(object: Record<string, unknown>): [string, unknown][] {
  const rank = (key: string) => (key === DOCKER_HUB_SERVER ? 0 : /^[^/]+$/.test(key.replace(/^https?:\/\//, '').replace(/\/$/, '')) ? 1 : 2);
  return Object.entries(object).sort(([a], [b]) => rank(a) - rank(b));
}

/** The registry host a config key names (`https://index.docker.io/v1/` is docker.io), undefined when it names none. */
function registryOf(key: string): string | undefined {
  try {
    return normaliseRegistryHost(key.trim());
  } catch {
    return undefined;
  }
}

/** The login an `auths` entry stores: `auth` (base64 `user:password`) first, as Docker reads it, else `username` and `password`. */
function storedLogin(entry: Record<string, unknown>): RegistryCredential | 'invalid' | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const login = decodeLogin(entry.auth);
    return login === undefined || login.password === '' ? 'invalid' : login;
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '' && entry.password !== '') {
    return Object.freeze({ username: entry.username, password: entry.password });
  }
  // `{}`: the marker Docker leaves where a helper holds the login; or an identity token, which only Docker can use.
  return undefined;
}

