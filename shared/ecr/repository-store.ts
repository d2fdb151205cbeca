import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  type ECRClient,
  PutLifecyclePolicyCommand,
  RepositoryAlreadyExistsException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { describeError, RepositoryStoreError } from '../errors.ts';
import type { RepositoryStore } from '../ports.ts';

export interface EcrRepositoryOptions {
  /** The registry (account) id; the caller's own when absent. */
  readonly registryId?: string;
  /** KMS key ARN or id; AES256 when absent. */
  readonly kmsKey?: string;
}

/** Days after which untagged images expire. Mirrored digest-only images carry a tag, so they never do. */
const UNTAGGED_EXPIRY_DAYS = 14;

const MANAGED_BY = 'image-mirror';

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

/** ECR repositories: created on first use with scan on push, mutable tags (mirrored tags move), encryption, tags and a lifecycle policy. */
export class EcrRepositoryStore implements RepositoryStore {
  private readonly inFlight = new Map<string, Promise<'created' | 'exists'>>();

  constructor(
    private readonly client: ECRClient,
    private readonly options: EcrRepositoryOptions = {},
  ) {}

  ensure(repository: string, source: string): Promise<'created' | 'exists'> {
    // Jobs for several tags of one new repository share one creation.
    let pending = this.inFlight.get(repository);
    if (!pending) {
      pending = this.ensureOnce(repository, source).catch((error: unknown) => {
        this.inFlight.delete(repository);
        throw error;
      });
      this.inFlight.set(repository, pending);
    }
    return pending;
  }

  private async ensureOnce(repository: string, source: string): Promise<'created' | 'exists'> {
    const registryId = this.options.registryId;
    try {
      await this.client.send(new DescribeRepositoriesCommand({ registryId, repositoryNames: [repository] }));
      return 'exists';
    } catch (error) {
      if (!(error instanceof RepositoryNotFoundException)) throw this.failure('describing', repository, error);
    }
    try {
      await this.client.send(
        new CreateRepositoryCommand({
          registryId,
          repositoryName: repository,
          imageTagMutability: 'MUTABLE',
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfiguration: this.options.kmsKey ? { encryptionType: 'KMS', kmsKey: this.options.kmsKey } : { encryptionType: 'AES256' },
          tags: [
            { Key: 'managed-by', Value: MANAGED_BY },
            { Key: 'source', Value: source },
          ],
        }),
      );
    } catch (error) {
      // Another worker created it between our describe and create: that is success.
      if (error instanceof RepositoryAlreadyExistsException) return 'exists';
      throw this.failure('creating', repository, error);
    }
    try {
      await this.client.send(new PutLifecyclePolicyCommand({ registryId, repositoryName: repository, lifecyclePolicyText: lifecyclePolicy(UNTAGGED_EXPIRY_DAYS) }));
    } catch (error) {
      throw this.failure('setting the lifecycle policy of', repository, error);
    }
    return 'created';
  }

  private failure(action: string, repository: string, error: unknown): RepositoryStoreError {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const retryable = status === undefined || status === 429 || status >= 500 || (error as { name?: string }).name === 'ThrottlingException';
    return new RepositoryStoreError(`${action} ECR repository "${repository}": ${describeError(error)}`, { cause: error, retryable });
  }
}
