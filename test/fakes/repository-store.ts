import type { ManagedListing, ManagedRepository, RepositoryReport, RepositoryStore } from '../../shared/ports.ts';

/** Repositories held in memory: which exist, what a check of each would put back, and every call in order. */
export class FakeRepositoryStore implements RepositoryStore {
  /** Existing repositories by name, with what a check of each puts back (and then no more). */
  readonly existing = new Map<string, { repaired?: string[]; warnings?: string[] }>();
  /** Managed repositories as listManaged() finds them, and the others under any prefix. */
  readonly managed: ManagedRepository[] = [];
  unmanaged = 0;
  readonly calls: string[] = [];
  /** Thrown by every check, when set. */
  failCheck?: Error;
  /** Awaited by every check before it answers, when set. */
  checkGate?: Promise<void>;
  /** The `except` set each listManaged() was given. */
  readonly excepted: ReadonlySet<string>[] = [];

  async check(repository: string, source: string): Promise<RepositoryReport | undefined> {
    this.calls.push(`check ${repository} ${source}`);
    await this.checkGate;
    if (this.failCheck) throw this.failCheck;
    const found = this.existing.get(repository);
    if (found === undefined) return undefined;
    this.existing.set(repository, {});
    return { created: false, repaired: found.repaired ?? [], warnings: found.warnings ?? [] };
  }

  async ensure(repository: string, source: string): Promise<RepositoryReport> {
    this.calls.push(`ensure ${repository} ${source}`);
    if (this.existing.has(repository)) return { created: false, repaired: [], warnings: [] };
    this.existing.set(repository, {});
    return { created: true, repaired: [], warnings: [] };
  }

  async listManaged(prefix: string, except: ReadonlySet<string> = new Set()): Promise<ManagedListing> {
    this.calls.push(`listManaged ${prefix}`);
    this.excepted.push(except);
    const under = this.managed.filter((repository) => prefix === '' || repository.name.startsWith(`${prefix}/`));
    return { repositories: under.filter((repository) => !except.has(repository.name)), total: under.length + this.unmanaged };
  }
}
