import { stat } from 'node:fs/promises';
import { describeError, GitSourceError, UsageError } from '../../shared/errors.ts';
import { comparePlans } from '../../shared/plan/compare.ts';
import type { DiffReport } from '../../shared/plan/diff-report.ts';
import { GitRefDockerfileSource, locateInGit, resolveCommit } from '../../shared/source/git-ref.ts';
import type { PlanOptions } from '../../shared/plan/plan.ts';
import type { DockerfileSource, RegistryCredential } from '../../shared/ports.ts';
import { StaticCredentialProvider } from '../../shared/registry/credentials.ts';
import { HttpRegistryClient } from '../../shared/registry/http-registry.ts';
import { LocalDockerfileSource } from '../../shared/source/local-dir.ts';

/** What `mirror plan --base` was asked. */
export interface PlanDiffRequest {
  readonly images: string;
  /** A directory when one exists at that path, otherwise a git ref of the repository holding `images`. */
  readonly base: string;
  readonly cost: boolean;
  readonly credentials: ReadonlyMap<string, RegistryCredential>;
  readonly planOptions: PlanOptions;
}

/** `mirror plan --base`: builds the two sources and the lookup registry, then compares. */
export async function planAgainstBase(request: PlanDiffRequest): Promise<DiffReport> {
  const base = await baseSource(request.base, request.images);
  // Only source registries are read, with the --credentials logins; no target, no crane.
  const registry = request.cost ? new HttpRegistryClient({ credentials: new StaticCredentialProvider(request.credentials) }) : undefined;
  return comparePlans(
    { base, next: new LocalDockerfileSource(request.images), ...(registry ? { registry } : {}) },
    { ...request.planOptions, baseLabel: request.base },
  );
}

async function baseSource(base: string, images: string): Promise<DockerfileSource> {
  const found = await stat(base).catch(() => undefined);
  if (found?.isDirectory()) return new LocalDockerfileSource(base);
  try {
    const location = await locateInGit(images);
    const commit = await resolveCommit(location.root, base);
    return new GitRefDockerfileSource(location, commit);
  } catch (error) {
    if (!(error instanceof GitSourceError)) throw error;
    throw new UsageError(`--base: "${base}" is neither a directory nor a git ref: ${describeError(error)}`, { cause: error });
  }
}
