import { describe, expect, it } from 'vitest';
import { afterAttempts, COPY_RETRY, nextDelay, parseRetryAfter, retrying, type RetryPolicy, settledWithin } from '../../shared/retry.ts';

const policy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 5_000 };
const at = (attempt: number, extra: Partial<Parameters<typeof nextDelay>[1]> = {}) => nextDelay(policy, { attempt, startedAt: 0, now: 0, random: () => 1, ...extra });

describe('nextDelay', () => {
  it('doubles the backoff per attempt, up to the longest single wait', () => {
    const long: RetryPolicy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 };
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => nextDelay(long, { attempt, startedAt: 0, now: 0, random: () => 1 }));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('spreads waits over the whole backoff (full jitter)', () => {
    expect(at(3, { random: () => 0 })).toBe(0);
    expect(at(3, { random: () => 0.5 })).toBe(200);
  });

  it('stops after the last attempt', () => {
    expect(at(3)).toBe(400);
    expect(at(4)).toBeUndefined();
  });

  it('waits at least as long as Retry-After asks, and stops when it asks for more than the longest wait', () => {
    expect(at(1, { retryAfterMs: 700, random: () => 0 })).toBe(700);
    expect(at(1, { retryAfterMs: 1_001 })).toBeUndefined();
  });

  it('starts no retry that would end past the total budget or the deadline', () => {
    expect(at(2, { now: 4_800 })).toBe(200);
    expect(at(2, { now: 4_801 })).toBeUndefined();
    expect(at(2, { deadline: 199 })).toBeUndefined();
    expect(at(2, { deadline: 200 })).toBe(200);
  });

  it('keeps a floor of half the backoff with equal jitter, as copies use', () => {
    const equal: RetryPolicy = { ...policy, jitter: 'equal' };
    expect(nextDelay(equal, { attempt: 3, startedAt: 0, now: 0, random: () => 0 })).toBe(200);
    expect(nextDelay(equal, { attempt: 3, startedAt: 0, now: 0, random: () => 1 })).toBe(400);
    expect(nextDelay(COPY_RETRY, { attempt: 1, startedAt: 0, now: 0, random: () => 0 })).toBe(500);
  });
});

describe('parseRetryAfter and afterAttempts', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:29:00 GMT'))).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('counts attempts in words', () => {
    expect(afterAttempts(1)).toBe(' (after 1 attempt)');
    expect(afterAttempts(3)).toBe(' (after 3 attempts)');
  });
});

describe('retrying', () => {
  const quick: RetryPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 50 };
  const failWith = (retryable: boolean) => Object.assign(new Error('boom'), { retryable });
  const run = (waits: number[] = []) => ({
    classify: (error: unknown) => ({ retryable: (error as { retryable: boolean }).retryable, retryAfterMs: 20 }),
    giveUp: (error: unknown, attempts: number, retryable: boolean) => new Error(`${(error as Error).message}${retryable ? afterAttempts(attempts) : ''}`),
    sleep: async (ms: number) => void waits.push(ms),
  });

  it('returns the first success, waiting between attempts at least what the server asked', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retrying(quick, async (n) => {
      calls += 1;
      if (n < 3) throw failWith(true);
      return 'done';
    }, run(waits));
    expect([result, calls]).toEqual(['done', 3]);
    expect(waits).toHaveLength(2);
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(20);
  });

  it('gives up after the policy\'s attempts, saying how many', async () => {
    let calls = 0;
    await expect(retrying(quick, async () => {
      calls += 1;
      throw failWith(true);
    }, run())).rejects.toThrow('boom (after 3 attempts)');
    expect(calls).toBe(3);
  });

  it('never retries what the caller calls permanent, and does the work asked before each retry', async () => {
    const before: unknown[] = [];
    let calls = 0;
    await expect(retrying(quick, async () => {
      calls += 1;
      throw failWith(calls === 1);
    }, { ...run(), beforeRetry: (error: unknown) => void before.push(error) })).rejects.toThrow(/^boom$/);
    expect(calls).toBe(2);
    expect(before).toHaveLength(1);
  });
});

describe('settledWithin', () => {
  it('gives the value, or the failure, of work that settles in time', async () => {
    await expect(settledWithin(Promise.resolve(7), 1_000)).resolves.toBe(7);
    await expect(settledWithin(Promise.reject(new Error('refused')), 1_000)).rejects.toThrow('refused');
    await expect(settledWithin(Promise.resolve(7), undefined)).resolves.toBe(7);
  });

  it('gives undefined once the time is up, without waiting for the work', async () => {
    let finished = false;
    const late = new Promise<number>((resolve) => setTimeout(() => resolve((finished = true) ? 7 : 0), 200));
    await expect(settledWithin(late, 5)).resolves.toBeUndefined();
    expect(finished).toBe(false);
    await late;
  });
});
