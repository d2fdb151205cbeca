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
  readonly seen: PullBudgetSeen;
}

interface Account {
  /** The budget as the registry last told it. */
  seen: PullBudgetSeen;
  /** What we think remains now: the last figure less the pulls granted since, or still in flight. */
  remaining: number;
  /** Pulls granted to copies that have not ended: the registry's next figure may not count them yet. */
  inFlight: number;
}

/** The pull budgets of the source registries of one run, each shared by every copy from that registry. */
export class PullBudgets {
  private readonly accounts = new Map<string, Account>();

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
    this.accounts.set(registry, { seen, remaining, inFlight });
  }

  /** The budget of a registry as last seen, its remaining figure less the pulls granted since; undefined when it has none. */
  current(registry: string): PullBudgetSeen | undefined {
    const account = this.accounts.get(registry);
    return account === undefined ? undefined : { ...account.seen, remaining: account.remaining };
  }

  /**
   * Grants `pulls` of the registry's budget to one copy, or refuses when fewer than `pulls` + the reserve remain. A
   * registry that never sent a budget counts no pulls: everything is granted.
   */
  take(registry: string, pulls: number): PullGrant | PullRefusal {
    const account = this.accounts.get(registry);
    if (account === undefined || pulls <= 0) return { registry, pulls: 0 };
    const available = Math.max(0, account.remaining - this.reserve);
    if (pulls > available) return { needed: pulls, available, reserve: this.reserve, seen: { ...account.seen, remaining: account.remaining } };
    account.remaining -= pulls;
    account.inFlight += pulls;
    return { registry, pulls };
  }

  /** The copy holding `grant` has ended: its pulls are spent (or not), and the registry's next figure will say which. */
  release(grant: PullGrant): void {
    const account = this.accounts.get(grant.registry);
    if (account !== undefined) account.inFlight = Math.max(0, account.inFlight - grant.pulls);
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
