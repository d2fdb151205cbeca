import { type ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { CredentialsError, describeError } from '../errors.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';
import { decodeLogin } from '../registry/credentials.ts';

const REFRESH_MARGIN_MS = 5 * 60_000;
const MAX_CACHE_MS = 60 * 60_000;

/** Registry credentials for one ECR registry host from GetAuthorizationToken, cached (the API allows 20 calls a second). */
export class EcrCredentialProvider implements CredentialProvider {
  private cached: { credential: RegistryCredential; until: number } | undefined;
  private pending: Promise<RegistryCredential> | undefined;

  constructor(
    private readonly client: ECRClient,
    private readonly registry: string,
    private readonly registryId?: string,
  ) {}

  async credentialsFor(registry: string): Promise<RegistryCredential | undefined> {
    if (registry !== this.registry) return undefined;
    if (this.cached && this.cached.until > Date.now()) return this.cached.credential;
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets the cached token after the registry rejected it (tokens expire after 12 hours). */
  invalidate(registry: string): void {
    if (registry === this.registry) this.cached = undefined;
  }

  private async fetchToken(): Promise<RegistryCredential> {
    let data;
    try {
      const response = await this.client.send(new GetAuthorizationTokenCommand(this.registryId ? { registryIds: [this.registryId] } : {}));
      data = response.authorizationData?.[0];
    } catch (error) {
      throw new CredentialsError(`fetching an ECR authorization token for ${this.registry}: ${describeError(error)}`, { cause: error, retryable: true });
    }
    const credential = data?.authorizationToken ? decodeLogin(data.authorizationToken) : undefined;
    if (credential === undefined) throw new CredentialsError(`fetching an ECR authorization token for ${this.registry}: the answer held no usable token`);
    const now = Date.now();
    const expiresAt = data?.expiresAt?.getTime() ?? 0;
    // An expiry already past (emulators send one) is ignored rather than refetched on every call.
    const until = expiresAt > now + REFRESH_MARGIN_MS ? Math.min(expiresAt - REFRESH_MARGIN_MS, now + MAX_CACHE_MS) : now + MAX_CACHE_MS;
    this.cached = { credential, until };
    return credential;
  }
}
