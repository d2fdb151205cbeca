import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { ManifestHead, MirrorResult, OutcomeRecorder } from '../../../shared/ports.ts';
import { runIdOf, runWorkerJob, type WorkerSettings } from '../../../shared/sync/worker-job.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

// The error paths a real registry cannot be made to take: work that ignores the deadline's abort. The rest of the
// worker's attempts and deadline are tested end to end in test/functions/worker/handler.stack.test.ts.

const settings: WorkerSettings = { target: parseTargetBase('registry.example.com/mirror'), nameTemplate: '{registry}/{repository}', allowRegistries: [], platforms: [] };

class KeptRecorder implements OutcomeRecorder {
  readonly results: MirrorResult[] = [];
  readonly retries: { result: MirrorResult; number: number; of: number }[] = [];
  record(result: MirrorResult): void {
    this.results.push(result);
  }
  retrying(result: MirrorResult, attempt: { number: number; of: number }): void {
    this.retries.push({ result, number: attempt.number, of: attempt.of });
  }
}

describe('runWorkerJob', () => {
  it('records the outcome before the deadline even when a lookup ignores the abort', async () => {
    const registry = new FakeManifestRegistry();
    registry.headManifest = () => new Promise<ManifestHead | undefined>(() => undefined);
    const recorder = new KeptRecorder();
    const started = Date.now();
    const result = await runWorkerJob({ source: 'quay.io/app/one:1' }, { registry, copier: new FakeCopier(), credentials: { credentialsFor: async () => undefined }, recorder }, settings, { deadline: Date.now() + 100 });
    // The deadline, then two seconds for the work to stop by itself: abandoned after that.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(result).toMatchObject({ status: 'failed', retryable: false, source: 'quay.io/app/one:1' });
    expect(result.error).toContain('mirroring "quay.io/app/one:1": stopped at the invocation\'s deadline');
    expect(result.error).toContain('the work did not stop when asked');
    expect(recorder.results).toEqual([result]);
  });

  it('does not wait for another attempt that the deadline leaves no room for', async () => {
    const registry = new FakeManifestRegistry();
    const { RegistryRequestError } = await import('../../../shared/errors.ts');
    registry.failHeadsOn = { registry: 'quay.io', error: new RegistryRequestError('HEAD quay.io: 503 Service Unavailable', { retryable: true, status: 503 }) };
    const recorder = new KeptRecorder();
    const waits: number[] = [];
    const deps = { registry, copier: new FakeCopier(), credentials: { credentialsFor: async () => undefined }, recorder };
    const retry = { attempts: 3, baseDelayMs: 20_000, maxDelayMs: 60_000, jitter: 'equal' as const };
    const sleep = async (ms: number) => void waits.push(ms);
    // 35 s left: a wait of 10 to 20 s would leave less than the 30 s an attempt needs.
    const result = await runWorkerJob({ source: 'quay.io/app/one:1' }, deps, settings, { deadline: Date.now() + 35_000, retry, sleep });
    expect(result).toMatchObject({ status: 'failed', retryable: true });
    expect(recorder.retries).toEqual([]);
    expect(waits).toEqual([]);
    // With room, each retryable failure but the last is recorded as retrying: 3 attempts, 2 waits.
    const roomy = await runWorkerJob({ source: 'quay.io/app/one:1' }, deps, settings, { deadline: Date.now() + 600_000, retry, sleep });
    expect(roomy).toMatchObject({ status: 'failed', retryable: true });
    expect(recorder.retries.map((r) => [r.number, r.of])).toEqual([[1, 3], [2, 3]]);
    expect(waits).toHaveLength(2);
    expect(recorder.results).toHaveLength(2);
  });

  it.each([
    [{ runId: '2026-12-03T10:00:00Z/3f2a9c1e' }, '2026-12-03T10:00:00Z/3f2a9c1e'],
    [{ runId: 'manual-rerun' }, 'manual-rerun'],
    [{ runId: 'a\nb' }, undefined],
    [{ runId: 'x'.repeat(101) }, undefined],
    [{ runId: 42 }, undefined],
    [{}, undefined],
  ])('reads the run id of %j as %s', (event, runId) => {
    expect(runIdOf(event)).toBe(runId);
  });
});
