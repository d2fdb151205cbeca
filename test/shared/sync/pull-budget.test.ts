import { describe, expect, it } from 'vitest';
import { describeLimit, isRefusal, PullBudgets } from '../../../shared/sync/pull-budget.ts';

const hub = (remaining: number) => ({ limit: 100, remaining, windowSeconds: 21_600, source: '192.0.2.1' });

describe('PullBudgets', () => {
  it('grants every pull of a registry that never said it counts them', () => {
    const budgets = new PullBudgets(20);
    expect(budgets.take('quay.io', 50)).toEqual({ registry: 'quay.io', pulls: 0 });
    expect(budgets.current('quay.io')).toBeUndefined();
  });

  it('grants pulls down to the reserve and refuses the next, saying what was needed and what remains', () => {
    const budgets = new PullBudgets(20);
    budgets.observe('docker.io', hub(25));
    expect(budgets.take('docker.io', 3)).toEqual({ registry: 'docker.io', pulls: 3 });
    expect(budgets.take('docker.io', 2)).toEqual({ registry: 'docker.io', pulls: 2 });
    const refusal = budgets.take('docker.io', 1);
    expect(isRefusal(refusal)).toBe(true);
    expect(refusal).toEqual({ needed: 1, available: 0, reserve: 20, seen: hub(20), exhausted: false });
  });

  it('shares one budget between copies running at once: no two count on the same pulls', () => {
    const budgets = new PullBudgets(0);
    budgets.observe('docker.io', hub(4));
    const first = budgets.take('docker.io', 3);
    expect(isRefusal(first)).toBe(false);
    // The second copy asks before the first has ended: only one pull is left for it.
    expect(isRefusal(budgets.take('docker.io', 2))).toBe(true);
    expect(isRefusal(budgets.take('docker.io', 1))).toBe(false);
  });

  it('takes the pulls still in flight off what a newer answer says, since the registry may not count them yet', () => {
    const budgets = new PullBudgets(0);
    budgets.observe('docker.io', hub(10));
    const grant = budgets.take('docker.io', 4);
    // A HEAD answered while the copy runs: the registry has counted none of its pulls yet.
    budgets.observe('docker.io', hub(10));
    expect(budgets.current('docker.io')?.remaining).toBe(6);
    if (!isRefusal(grant)) budgets.release(grant);
    // Once it has ended, the registry's figure counts them.
    budgets.observe('docker.io', hub(6));
    expect(budgets.current('docker.io')?.remaining).toBe(6);
  });

  it('never takes a higher figure: an answer sent before pulls were spent can arrive after they were', () => {
    const budgets = new PullBudgets(0);
    budgets.observe('docker.io', hub(10));
    const grant = budgets.take('docker.io', 3);
    if (!isRefusal(grant)) budgets.release(grant);
    // The registry answered this HEAD before the copy's GETs reached it; it arrives once the copy has ended.
    budgets.observe('docker.io', hub(10));
    expect(budgets.current('docker.io')?.remaining).toBe(7);
  });

  it('follows the registry down when others spend pulls (the clusters)', () => {
    const budgets = new PullBudgets(20);
    budgets.observe('docker.io', hub(60));
    budgets.observe('docker.io', hub(21));
    expect(isRefusal(budgets.take('docker.io', 2))).toBe(true);
    expect(isRefusal(budgets.take('docker.io', 1))).toBe(false);
  });

  it('gives back the pulls a copy was granted and never sent', () => {
    const budgets = new PullBudgets(0);
    budgets.observe('docker.io', hub(10));
    const grant = budgets.take('docker.io', 4);
    if (!isRefusal(grant)) budgets.release(grant, 3);
    expect(budgets.current('docker.io')?.remaining).toBe(9);
  });

  it('grants nothing more from a registry that refused a pull for its limit, whether or not it told a budget', () => {
    const budgets = new PullBudgets(0);
    budgets.exhaust('quay.io');
    expect(budgets.take('quay.io', 1)).toEqual({ needed: 1, available: 0, reserve: 0, exhausted: true });
    expect(budgets.current('quay.io')).toBeUndefined();
    budgets.observe('docker.io', hub(50));
    budgets.exhaust('docker.io');
    budgets.observe('docker.io', hub(50));
    expect(isRefusal(budgets.take('docker.io', 1))).toBe(true);
  });

  it('holds a registry for one piece of work at a time, and none for a registry that counts no pulls', async () => {
    const budgets = new PullBudgets(0);
    budgets.observe('docker.io', hub(10));
    const order: string[] = [];
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = budgets.exclusive('docker.io', async () => {
      order.push('first starts');
      started();
      await new Promise<void>((resolve) => (release = resolve));
      order.push('first ends');
    });
    const second = budgets.exclusive('docker.io', async () => void order.push('second'));
    await running;
    await budgets.exclusive('quay.io', async () => void order.push('quay.io, not held'));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first starts', 'quay.io, not held', 'first ends', 'second']);
  });

  it('says a limit as people do', () => {
    expect(describeLimit(hub(1))).toBe('100 per 6 h');
    expect(describeLimit({ limit: 200, remaining: 1, windowSeconds: 1800 })).toBe('200 per 30 min');
    expect(describeLimit({ limit: 5, remaining: 1, windowSeconds: 90 })).toBe('5 per 90 s');
  });
});
