import { ConfigError } from '../errors.ts';
import { normaliseRegistryHost } from '../image-ref/reference.ts';
import { isRecord } from '../json.ts';
import type { CredentialProvider, RegistryCredential } from '../ports.ts';

/**
 * Parses credentials JSON keyed by registry host, `{"docker.io": {"username": "…", "password": "…"}}`:
 * the shape of the `--credentials` file and of the AWS secret. Messages never include a secret.
 */
export function parseCredentials(json: string, origin: string): ReadonlyMap<string, RegistryCredential> {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new ConfigError(`${origin}: not valid JSON`);
  }
  if (!isRecord(data)) {
    throw new ConfigError(`${origin}: expected an object keyed by registry host`);
  }
  const out = new Map<string, RegistryCredential>();
  const problems: string[] = [];
  for (const [host, entry] of Object.entries(data)) {
    let registry: string;
    try {
      registry = normaliseRegistryHost(host);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    if (!isRecord(entry) || typeof entry.username !== 'string' || typeof entry.password !== 'string' || entry.username === '' || entry.password === '') {
      problems.push(`"${host}" needs non-empty string fields "username" and "password"`);
      continue;
    }
    out.set(registry, Object.freeze({ username: entry.username, password: entry.password }));
  }
  if (problems.length > 0) throw new ConfigError(`${origin}: ${problems.join('; ')}`);
  return out;
}

/**
 * The login a base64 `user:password` carries (a Docker config's `auth`, an ECR authorization token); undefined when no
 * user stands before a colon. The password is all after the first colon, colons included.
 */
export function decodeLogin(base64: string): RegistryCredential | undefined {
  const decoded = Buffer.from(base64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return Object.freeze({ username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
}

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
