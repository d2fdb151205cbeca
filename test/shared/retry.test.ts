import { describe, expect, it } from 'vitest';
import { afterAttempts, COPY_RETRY, nextDelay, parseRetryAfter, REQUEST_RETRY, type RetryPolicy } from '../../shared/retry.ts';

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

  it('has a policy for requests and one for copies', () => {
    expect(REQUEST_RETRY).toMatchObject({ attempts: 4, baseDelayMs: 500, budgetMs: 60_000 });
    expect(COPY_RETRY.attempts).toBe(3);
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
