import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, CredentialsError, describeError } from '../errors.ts';
import { parseCredentials } from '../registry/credentials.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';
import { rememberSecret } from '../safe-text.ts';

/** Reads a secret's string once per container and keeps it; a failed read is retried on the next call. */
export class CachedSecret {
  private pending: Promise<string> | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    readonly secretId: string,
  ) {}

  value(): Promise<string> {
    this.pending ??= this.read().catch((error: unknown) => {
      this.pending = undefined;
      throw error;
    });
    return this.pending;
  }

  private async read(): Promise<string> {
    let secret;
    try {
      secret = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    } catch (error) {
      const name = (error as { name?: string }).name;
      const permanent = name === 'ResourceNotFoundException' || name === 'AccessDeniedException' || name === 'AccessDeniedError';
      throw new CredentialsError(`reading secret "${this.secretId}": ${describeError(error)}`, { cause: error, retryable: !permanent });
    }
    if (secret.SecretString === undefined) throw new ConfigError(`reading secret "${this.secretId}": it has no string value`);
    return secret.SecretString;
  }
}

/** Source registry credentials from one secret holding JSON keyed by registry host, the shape of `--credentials`. */
export class SecretsManagerCredentialProvider implements CredentialProvider {
  private parsed: Promise<ReadonlyMap<string, RegistryCredential>> | undefined;

  constructor(private readonly secret: CachedSecret) {}

  async credentialsFor(registry: string): Promise<RegistryCredential | undefined> {
    this.parsed ??= this.secret.value().then((text) => parseCredentials(text, `secret "${this.secret.secretId}"`));
    try {
      return (await this.parsed).get(registry);
    } catch (error) {
      this.parsed = undefined;
      throw error;
    }
  }
}

/** The GitHub token from a secret holding either the bare token or `{"token": "…"}`. */
export async function githubToken(secret: CachedSecret): Promise<string> {
  const text = (await secret.value()).trim();
  // Remembered so that no message can show it, whatever GitHub or a library echoes.
  if (!text.startsWith('{')) return remembered(text);
  try {
    const token = (JSON.parse(text) as { token?: unknown }).token;
    if (typeof token === 'string' && token !== '') return remembered(token);
  } catch {
    // Reported below without echoing the secret.
  }
  throw new ConfigError(`secret "${secret.secretId}": expected the token itself or {"token": "…"}`);
}

function remembered(token: string): string {
  rememberSecret(token);
  return token;
}
