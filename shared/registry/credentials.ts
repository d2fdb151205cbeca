import type { CredentialProvider, RegistryCredential } from '../ports.ts';

/** Credentials from a fixed map, e.g. a parsed `--credentials` file. */
export class StaticCredentialProvider implements CredentialProvider {
  constructor(private readonly credentials: ReadonlyMap<string, RegistryCredential> = new Map()) {}

  async credentialsFor(registry: string): Promise<RegistryCredential | undefined> {
    return this.credentials.get(registry);
  }
}

/** Asks each provider in turn; the first that knows the registry wins. */
export class ChainedCredentialProvider implements CredentialProvider {
  private readonly providers: readonly CredentialProvider[];

  constructor(...providers: CredentialProvider[]) {
    this.providers = providers;
  }

  async credentialsFor(registry: string): Promise<RegistryCredential | undefined> {
    for (const provider of this.providers) {
      const found = await provider.credentialsFor(registry);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  invalidate(registry: string): void {
    for (const provider of this.providers) provider.invalidate?.(registry);
  }
}
