import pLimit, { type LimitFunction } from 'p-limit';
import { DEFAULT_PULL_RESERVE } from '../plan/cost.ts';
import type { PullBudgetSeen } from '../ports.ts';

// Docker Hub counts every manifest GET against a budget per IP address or account (100 or 200 per 6 hours), and tells
// what is left on every manifest answer, HEAD included, which costs nothing
// (https://docs.docker.com/docker-hub/usage/pulls/). The mirror reads that figure from its free HEADs and never spends
// the pulls kept in reserve for the clusters that still pull from Docker Hub: an image whose copy would go below the
// reserve is deferred to the next run. Copies running at once in one process take their pulls from one shared account,
// so no two of them count on the same pulls.

/** Pulls granted to one copy; handed back once it has ended, whatever happened. */
export interface PullGrant {
  readonly registry: string;
  readonly pulls: number;
}

/** Why a copy may not spend its pulls: what it needs, what remains, and the budget as last seen. */
export interface PullRefusal {
  readonly needed: number;
  readonly available: number;
  readonly reserve: number;
  /** The budget as last seen; absent for a registry that never told one and refused a pull for its limit. */
  readonly seen?: PullBudgetSeen;
  /** The registry refused a pull for its limit earlier in the run: nothing more is granted from it. */
  readonly exhausted: boolean;
}

interface Account {
  /** The budget as the registry last told it; absent when it never did (its 429 is all we know). */
  seen: PullBudgetSeen | undefined;
  /** What we think remains now: the last figure less the pulls granted since, or still in flight. */
  remaining: number;
  /** Pulls granted to copies that have not ended: the registry's next figure may not count them yet. */
  inFlight: number;
  exhausted: boolean;
}

/** The pull budgets of the source registries of one run, each shared by every copy from that registry. */
export class PullBudgets {
  private readonly accounts = new Map<string, Account>();
  private readonly locks = new Map<string, LimitFunction>();

  constructor(readonly reserve: number = DEFAULT_PULL_RESERVE) {}

  /**
   * Takes in what a registry's answer said of its budget. Its figure counts the pulls of copies that have ended, and
   * perhaps not yet those still running, which are taken off again. A figure higher than what we hold is an answer
   * that was on its way while pulls were spent (answers overtake each other), never trusted: within a run the budget
   * only goes down, and a window that starts anew meanwhile is the next run's. When unsure, assume fewer pulls left.
   */
  observe(registry: string, seen: PullBudgetSeen | undefined): void {
    if (seen === undefined) return;
    const account = this.accounts.get(registry);
    const inFlight = account?.inFlight ?? 0;
    const remaining = Math.max(0, Math.min(seen.remaining - inFlight, account?.remaining ?? Number.POSITIVE_INFINITY));
    this.accounts.set(registry, { seen, remaining, inFlight, exhausted: account?.exhausted ?? false });
  }

  /** The budget of a registry as last seen, its remaining figure less the pulls granted since; undefined when it told none. */
  current(registry: string): PullBudgetSeen | undefined {
    const account = this.accounts.get(registry);
    return account?.seen === undefined ? undefined : { ...account.seen, remaining: account.remaining };
  }

  /**
   * Grants `pulls` of the registry's budget to one copy, or refuses when fewer than `pulls` + the reserve remain. A
   * registry that never sent a budget (nor refused a pull) counts no pulls: everything is granted.
   */
  take(registry: string, pulls: number): PullGrant | PullRefusal {
    const account = this.accounts.get(registry);
    if (account === undefined || pulls <= 0) return { registry, pulls: 0 };
    const available = account.exhausted ? 0 : Math.max(0, account.remaining - this.reserve);
    if (pulls > available) {
      return { needed: pulls, available, reserve: this.reserve, exhausted: account.exhausted, ...(account.seen ? { seen: { ...account.seen, remaining: account.remaining } } : {}) };
    }
    account.remaining -= pulls;
    account.inFlight += pulls;
    return { registry, pulls };
  }

  /** The copy holding `grant` has ended; `unspent` of its pulls were never sent and go back to the budget. */
  release(grant: PullGrant, unspent = 0): void {
    const account = this.accounts.get(grant.registry);
    if (account === undefined) return;
    account.inFlight = Math.max(0, account.inFlight - grant.pulls);
    account.remaining += Math.min(unspent, grant.pulls);
  }

  /** The registry refused a pull for its limit (a 429): nothing more is granted from it in this run. */
  exhaust(registry: string): void {
    const account = this.accounts.get(registry);
    if (account === undefined) this.accounts.set(registry, { seen: undefined, remaining: 0, inFlight: 0, exhausted: true });
    else Object.assign(account, { remaining: 0, exhausted: true });
  }

  /**
   * Runs `work` with the registry's budget to itself: no other copy's grant lands between the grants it takes (an
   * index read, then the pulls of its images). Grants elsewhere wait for it; a registry without a budget waits for none.
   */
  exclusive<T>(registry: string, work: () => Promise<T>): Promise<T> {
    if (!this.accounts.has(registry)) return work();
    let lock = this.locks.get(registry);
    if (lock === undefined) {
      lock = pLimit(1);
      this.locks.set(registry, lock);
    }
    return lock(work);
  }
}

/** True for a refusal rather than a grant. */
export function isRefusal(answer: PullGrant | PullRefusal): answer is PullRefusal {
  return 'needed' in answer;
}

/** `100 per 6 h`, `200 per 30 min`: a budget's limit and window as people say it. */
export function describeLimit(seen: PullBudgetSeen): string {
  const window = seen.windowSeconds % 3600 === 0 ? `${seen.windowSeconds / 3600} h` : seen.windowSeconds % 60 === 0 ? `${seen.windowSeconds / 60} min` : `${seen.windowSeconds} s`;
  return `${seen.limit} per ${window}`;
}
