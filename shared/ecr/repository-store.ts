import { isDeepStrictEqual } from 'node:util';
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  type ECRClient,
  type EncryptionConfiguration,
  GetLifecyclePolicyCommand,
  LifecyclePolicyNotFoundException,
  ListTagsForResourceCommand,
  paginateDescribeRepositories,
  PutImageScanningConfigurationCommand,
  PutLifecyclePolicyCommand,
  type Repository,
  RepositoryAlreadyExistsException,
  RepositoryNotFoundException,
  type Tag,
  TagResourceCommand,
} from '@aws-sdk/client-ecr';
import pLimit from 'p-limit';
import { describeError, RepositoryStoreError } from '../errors.ts';
import type { ManagedListing, ManagedRepository, RepositoryReport, RepositoryStore } from '../ports.ts';

export interface EcrRepositoryOptions {
  /** The registry (account) id; the caller's own when absent. */
  readonly registryId?: string;
  /** KMS key ARN or id; AES256 when absent. */
  readonly kmsKey?: string;
  /** The clock, for how old a repository is; Date.now unless a test says otherwise. */
  readonly now?: () => number;
}

/** Days after which untagged images expire. Mirrored digest-only images carry a tag, so they never do. */
const UNTAGGED_EXPIRY_DAYS = 14;

const MANAGED_BY = 'image-mirror';

/**
 * A repository this young without a lifecycle policy is most likely being created by another worker at this moment
 * (creation and policy are two calls): the policy is put all the same, but it is no drift to report.
 */
const CREATION_WINDOW_MS = 5 * 60_000;

/** Tag look-ups at once while listing: ListTagsForResource is throttled per account. */
const TAG_LOOKUPS_AT_ONCE = 8;

/** What a job that joined another's check is told: the other job reports what was done. */
const NOTHING_DONE: RepositoryReport = Object.freeze({ created: false, repaired: Object.freeze([]), warnings: Object.freeze([]) });

/** The lifecycle policy every mirror repository gets: untagged images (left behind when a tag moves) expire. */
export function lifecyclePolicy(untaggedExpiryDays: number): string {
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `expire untagged images after ${untaggedExpiryDays} days`,
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: untaggedExpiryDays },
        action: { type: 'expire' },
      },
    ],
  });
}

/**
 * ECR repositories: created on first use with scan on push, mutable tags (mirrored tags move), encryption, tags and a
 * lifecycle policy; on every later check, the settings that drifted are put back (encryption, which cannot change, is
 * only reported). Nothing is ever deleted, and tags of others are kept. Only describing and creating a repository can
 * fail a check: once it exists, a setting ECR refuses to read or put back is a warning, and the image goes on.
 */
export class EcrRepositoryStore implements RepositoryStore {
  // Only work in flight is shared: a Lambda container lives across invocations, and each must look again.
  private readonly inFlight = new Map<string, Promise<RepositoryReport | undefined>>();
  private readonly now: () => number;

  constructor(
    private readonly client: ECRClient,
    private readonly options: EcrRepositoryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  check(repository: string, source: string): Promise<RepositoryReport | undefined> {
    return this.shared(repository, async () => {
      const found = await this.describe(repository);
      return found === undefined ? undefined : this.converge(found, source);
    });
  }

  async ensure(repository: string, source: string): Promise<RepositoryReport> {
    // A check in flight that finds no repository answers undefined: then this call creates it (or joins who does).
    for (;;) {
      const report = await this.shared(repository, async () => {
        const found = await this.describe(repository);
        return found === undefined ? this.create(repository, source) : this.converge(found, source);
      });
      if (report !== undefined) return report;
    }
  }

  async listManaged(prefix: string, except: ReadonlySet<string> = new Set()): Promise<ManagedListing> {
    const under = prefix === '' ? '' : `${prefix}/`;
    const where = prefix === '' ? 'in the registry' : `under "${under}"`;
    const found: Repository[] = [];
    try {
      for await (const page of paginateDescribeRepositories({ client: this.client }, { registryId: this.options.registryId })) {
        for (const repository of page.repositories ?? []) if (repository.repositoryName?.startsWith(under)) found.push(repository);
      }
    } catch (error) {
      throw this.failure(`listing ECR repositories ${where}`, error);
    }
    const limit = pLimit(TAG_LOOKUPS_AT_ONCE);
    const candidates = found.filter((repository) => !except.has(repository.repositoryName ?? ''));
    const tagged = await Promise.all(
      candidates.map((repository) =>
        limit(async (): Promise<ManagedRepository | undefined> => {
          const name = repository.repositoryName ?? '';
          // One deleted since the listing is no orphan to report.
          const tags = await this.tagsOf(name, repository.repositoryArn).catch((error: unknown) => {
            if (error instanceof RepositoryStoreError && error.cause instanceof RepositoryNotFoundException) return undefined;
            throw error;
          });
          if (tags === undefined || tags.get('managed-by') !== MANAGED_BY) return undefined;
          const source = tags.get('source');
          return source === undefined ? { name } : { name, source };
        }),
      ),
    );
    const repositories = tagged.filter((repository) => repository !== undefined).sort((a, b) => a.name.localeCompare(b.name));
    return { repositories, total: found.length };
  }

  /** Runs `work` for a repository unless work for it is in flight already; a job that joins is told NOTHING_DONE. */
  private async shared(repository: string, work: () => Promise<RepositoryReport | undefined>): Promise<RepositoryReport | undefined> {
    const pending = this.inFlight.get(repository);
    if (pending !== undefined) return (await pending) === undefined ? undefined : NOTHING_DONE;
    const mine: Promise<RepositoryReport | undefined> = work().finally(() => {
      if (this.inFlight.get(repository) === mine) this.inFlight.delete(repository);
    });
    this.inFlight.set(repository, mine);
    return mine;
  }

  private async describe(repository: string): Promise<Repository | undefined> {
    try {
      const found = await this.client.send(new DescribeRepositoriesCommand({ registryId: this.options.registryId, repositoryNames: [repository] }));
      return found.repositories?.[0];
    } catch (error) {
      if (error instanceof RepositoryNotFoundException) return undefined;
      throw this.failure(`describing ECR repository "${repository}"`, error);
    }
  }

  private async create(repository: string, source: string): Promise<RepositoryReport> {
    const registryId = this.options.registryId;
    try {
      await this.client.send(
        new CreateRepositoryCommand({
          registryId,
          repositoryName: repository,
          imageTagMutability: 'MUTABLE',
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfiguration: this.options.kmsKey ? { encryptionType: 'KMS', kmsKey: this.options.kmsKey } : { encryptionType: 'AES256' },
          tags: managedTags(source),
        }),
      );
    } catch (error) {
      if (!(error instanceof RepositoryAlreadyExistsException)) throw this.failure(`creating ECR repository "${repository}"`, error);
      // Another worker created it between our describe and create: check what it made, as for any existing one.
      const found = await this.describe(repository);
      if (found === undefined) throw this.failure(`creating ECR repository "${repository}"`, error);
      return this.converge(found, source);
    }
    // The repository exists now, and the image can go into it: a policy that could not be set is a warning, as on
    // any existing repository, and the next check puts it there.
    const warnings: string[] = [];
    await this.bestEffort(warnings, 'set the lifecycle policy of the new repository', () => this.putLifecyclePolicy(repository));
    return { created: true, repaired: [], warnings };
  }

  /**
   * Puts back what drifted of an existing repository's managed settings, all at once, and says what cannot be. A read
   * or a repair ECR refuses (no permission, throttling) is a warning, never the image's failure: the repository is
   * there, and the next check tries again.
   */
  private async converge(found: Repository, source: string): Promise<RepositoryReport> {
    const repository = found.repositoryName ?? '';
    const readWarnings: string[] = [];
    const [policy, tags] = await Promise.all([
      this.bestEffort(readWarnings, 'check the lifecycle policy', () => this.lifecyclePolicyOf(repository)),
      this.bestEffort(readWarnings, 'check the tags', () => this.tagsOf(repository, found.repositoryArn)),
    ]);
    // Each repair says what it put back once it has; one that failed says so instead. Reported in the order started.
    const repairs: Promise<RepositoryReport>[] = [];
    const repair = (what: string, done: readonly string[], call: () => Promise<unknown>, note?: string) => {
      repairs.push(
        (async () => {
          const warnings: string[] = [];
          const result = await this.bestEffort(warnings, what, call);
          if (!result.ok) return { created: false, repaired: [], warnings };
          return { created: false, repaired: done, warnings: note === undefined ? [] : [note] };
        })(),
      );
    };

    if (found.imageScanningConfiguration?.scanOnPush !== true) {
      const command = new PutImageScanningConfigurationCommand({ registryId: this.options.registryId, repositoryName: repository, imageScanningConfiguration: { scanOnPush: true } });
      repair('turn scan on push back on', ['scan on push'], () => this.attempt(`turning on scan on push of ECR repository "${repository}"`, () => this.client.send(command)));
    }
    const wanted = lifecyclePolicy(UNTAGGED_EXPIRY_DAYS);
    if (policy.ok && (policy.value === undefined || !sameJson(policy.value, wanted))) {
      const young = found.createdAt !== undefined && this.now() - found.createdAt.getTime() < CREATION_WINDOW_MS;
      if (policy.value !== undefined) {
        const note = 'its lifecycle policy differed from the managed one and was replaced: the mirror keeps only its own policy on its repositories';
        repair('replace its lifecycle policy with the managed one', ['lifecycle policy'], () => this.putLifecyclePolicy(repository), note);
      } else {
        repair('put back the lifecycle policy', young ? [] : ['lifecycle policy'], () => this.putLifecyclePolicy(repository));
      }
    }
    const missingTags = tags.ok ? managedTags(source).filter((tag) => tags.value.get(tag.Key ?? '') !== tag.Value) : [];
    if (missingTags.length > 0) {
      // TagResource adds and overwrites only the keys it is given: the tags of others stay.
      const command = new TagResourceCommand({ resourceArn: found.repositoryArn, tags: missingTags });
      const keys = missingTags.map((tag) => `tag ${tag.Key}`);
      repair(`put back the ${missingTags.map((tag) => tag.Key).join(' and ')} tag${missingTags.length === 1 ? '' : 's'}`, keys, () =>
        this.attempt(`tagging ECR repository "${repository}"`, () => this.client.send(command)),
      );
    }
    const encryption = encryptionWarning(found.encryptionConfiguration, this.options.kmsKey);

    const done = await Promise.all(repairs);
    return {
      created: false,
      repaired: done.flatMap((report) => report.repaired),
      warnings: [...readWarnings, ...done.flatMap((report) => report.warnings), ...(encryption === undefined ? [] : [encryption])],
    };
  }

  /**
   * Runs a read or a repair of a repository that exists; ECR refusing or failing it (every SDK error reaches here as a
   * RepositoryStoreError) becomes a warning saying what could not be done and why.
   */
  private async bestEffort<T>(warnings: string[], what: string, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      if (!(error instanceof RepositoryStoreError)) throw error;
      warnings.push(`could not ${what}: ${refusal(error)}; the image was not held back for it, and the next check tries again`);
      return { ok: false };
    }
  }

  private async putLifecyclePolicy(repository: string): Promise<void> {
    const command = new PutLifecyclePolicyCommand({ registryId: this.options.registryId, repositoryName: repository, lifecyclePolicyText: lifecyclePolicy(UNTAGGED_EXPIRY_DAYS) });
    await this.attempt(`setting the lifecycle policy of ECR repository "${repository}"`, () => this.client.send(command));
  }

  /** The repository's lifecycle policy text, or undefined when it has none. */
  private async lifecyclePolicyOf(repository: string): Promise<string | undefined> {
    try {
      const found = await this.client.send(new GetLifecyclePolicyCommand({ registryId: this.options.registryId, repositoryName: repository }));
      return found.lifecyclePolicyText;
    } catch (error) {
      if (error instanceof LifecyclePolicyNotFoundException) return undefined;
      throw this.failure(`reading the lifecycle policy of ECR repository "${repository}"`, error);
    }
  }

  /** The repository's tags by key. */
  private async tagsOf(repository: string, arn: string | undefined): Promise<Map<string, string>> {
    const found = await this.attempt(`listing the tags of ECR repository "${repository}"`, () => this.client.send(new ListTagsForResourceCommand({ resourceArn: arn })));
    return new Map((found.tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  }

  /** Runs one ECR call; its failure says what was being done. */
  private async attempt<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  private failure(what: string, error: unknown): RepositoryStoreError {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const retryable = status === undefined || status === 429 || status >= 500 || (error as { name?: string }).name === 'ThrottlingException';
    return new RepositoryStoreError(`${what}: ${describeError(error)}`, { cause: error, retryable });
  }
}

/** What ECR said when it refused a call: the error's name (AccessDeniedException, ThrottlingException) and message. */
function refusal(error: RepositoryStoreError): string {
  const cause = error.cause;
  if (!(cause instanceof Error)) return describeError(error);
  const named = cause.name !== '' && cause.name !== 'Error' && !cause.message.startsWith(cause.name);
  return named ? `${cause.name}: ${describeError(cause)}` : describeError(cause);
}

/** The tags that mark a repository as the mirror's, and say what it mirrors. */
function managedTags(source: string): Tag[] {
  return [
    { Key: 'managed-by', Value: MANAGED_BY },
    { Key: 'source', Value: source },
  ];
}

/** A warning when a repository's encryption is not the configured one; it is fixed at creation, so only a new repository changes it. */
function encryptionWarning(actual: EncryptionConfiguration | undefined, kmsKey: string | undefined): string | undefined {
  const type = actual?.encryptionType ?? 'AES256';
  if (kmsKey === undefined ? type === 'AES256' : type === 'KMS' && sameKmsKey(actual?.kmsKey, kmsKey)) return undefined;
  const is = type === 'AES256' ? 'AES256' : `${type}${actual?.kmsKey ? ` key ${actual.kmsKey}` : ''}`;
  const configured = kmsKey === undefined ? 'AES256' : `KMS key ${kmsKey}`;
  return `encryption is ${is}, configured ${configured}: encryption cannot change; recreate the repository to change it`;
}

// ECR reports a key by its ARN; the configuration may give the ARN or the key id. An alias cannot be told from a key
// ARN without asking KMS, so it is taken to match.
function sameKmsKey(actual: string | undefined, configured: string): boolean {
  if (actual === undefined) return false;
  return actual === configured || actual.endsWith(`:key/${configured}`) || configured.startsWith('alias/') || configured.includes(':alias/');
}

/** True when two JSON texts hold the same value, whatever their spacing and key order. */
function sameJson(a: string, b: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(a), JSON.parse(b));
  } catch {
    return false;
  }
}
