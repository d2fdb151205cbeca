import { readFile, stat } from 'node:fs/promises';
import { LocalRepositoryFiles } from '../bots/repo-files.ts';
import type { CredentialProvider, DockerfileSource, ManifestRegistry, RegistryCredential, RepositoryFiles, SignOffReader } from '../ports.ts';
import { UsageError } from '../errors.ts';
import { ChainedCredentialProvider, parseCredentials, StaticCredentialProvider } from '../registry/credentials.ts';
import { credentialHelperRunner, type DockerEnv, DockerConfigCredentialProvider, loadDockerConfig } from '../registry/docker-config.ts';
import { HttpRegistryClient } from '../registry/http-registry.ts';
import { networkFromEnvironment } from '../registry/network.ts';
import { GitRefDockerfileSource, locateInGit, resolveCommit } from '../source/git-ref.ts';
import { LocalDockerfileSource } from '../source/local-dir.ts';
import { LocalSignOffReader } from '../source/sign-off-files.ts';
import { localPolicyFiles } from '../source/policy-files.ts';
import type { PolicyFileReader } from '../plan/policy.ts';

// The `mirror` command's adapters, as scheduler.ts and worker.ts are the Lambdas'; `mirror sync` takes its own from sync.ts.

/** The Dockerfiles of an images directory on disk. */
export function imagesDirectory(dir: string): DockerfileSource {
  return new LocalDockerfileSource(dir);
}

/** The sign-off files (`.trivyignore.yaml`) beside the Dockerfiles of an images directory on disk, for `mirror gate`. */
export function signOffsOf(dir: string): SignOffReader {
  return new LocalSignOffReader(dir);
}

/**
 * The signature policy's files of an images directory on disk: `signature-policy.yaml` at its root (or `policyFile`,
 * `--policy`, in its place) and the key and trust-root files it names below the root.
 */
export function policyFilesOf(dir: string, policyFile?: string): PolicyFileReader {
  return localPolicyFiles(dir, policyFile);
}

/**
 * The tree `mirror plan --base` compares with: the directory at `base` when there is one, else the git ref `base`
 * of the repository holding `images`. Throws GitSourceError when it is neither.
 */
export async function baseTree(base: string, images: string): Promise<DockerfileSource> {
  const found = await stat(base).catch(() => undefined);
  if (found?.isDirectory()) return new LocalDockerfileSource(base);
  const location = await locateInGit(images);
  return new GitRefDockerfileSource(location, await resolveCommit(location.root, base));
}

/** The registry logins of a `--credentials` file (none without one); a file that cannot be read is a usage error. */
export async function credentialsFile(file: string | undefined): Promise<ReadonlyMap<string, RegistryCredential>> {
  if (file === undefined) return new Map();
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--credentials: cannot read "${file}": ${error.code ?? error.message}`);
  });
  return parseCredentials(text, `--credentials ${file}`);
}

/** The registry logins of a run, as createSyncDeps() takes them: the static ones first, then the providers asked after them. */
export interface RegistryLogins {
  readonly credentials: ReadonlyMap<string, RegistryCredential>;
  readonly moreCredentials: readonly CredentialProvider[];
}

/**
 * The logins of a run: the `--credentials` file's, then Docker's own config.json's (`$DOCKER_CONFIG`, else
 * `$HOME/.docker`, of `env`) for the registries the file does not name, its credential helpers run only for the
 * registries the run asks for. A file that cannot be read is a usage error; Docker's config only ever warns.
 */
export async function registryLogins(file: string | undefined, env: DockerEnv, warn: (message: string) => void): Promise<RegistryLogins> {
  const credentials = await credentialsFile(file);
  const docker = await loadDockerConfig(env, warn);
  return { credentials, moreCredentials: docker ? [new DockerConfigCredentialProvider(docker, { helper: credentialHelperRunner(env), warn })] : [] };
}

/**
 * Reads source registries only, with the run's logins: the HEADs and index GETs of `plan --base`'s cost lookups, and
 * the referrers lists (no pull) of the signatures the sync would copy.
 */
export function sourceLookups(logins: RegistryLogins): Pick<ManifestRegistry, 'headManifest' | 'getManifest' | 'listReferrers'> {
  const credentials = new ChainedCredentialProvider(new StaticCredentialProvider(logins.credentials), ...logins.moreCredentials);
  return new HttpRegistryClient({ credentials, ...networkFromEnvironment() });
}

/** The repository's files on disk, for `mirror dependabot` and `mirror renovate`. */
export function repositoryFiles(): RepositoryFiles {
  return new LocalRepositoryFiles();
}
