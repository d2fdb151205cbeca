import { describe, expect, it } from 'vitest';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { ManifestHead, MirrorResult, OutcomeRecorder } from '../../../shared/ports.ts';
import { runIdOf, runWorkerJob, type WorkerSettings } from '../../../shared/sync/worker-job.ts';
import { CopyFailedError, RegistryRequestError } from '../../../shared/errors.ts';
import { WORKER_RETRY } from '../../../shared/retry.ts';
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

  it('waits at least what the registry asked for (Retry-After), and makes no more attempts when it asked for too long', async () => {
    const retry = WORKER_RETRY;
    const run = async (retryAfterMs: number) => {
      const registry = new FakeManifestRegistry();
      registry.failHeadsOn = { registry: 'quay.io', error: new RegistryRequestError('HEAD quay.io: 429 Too Many Requests', { retryable: true, status: 429, retryAfterMs }) };
      const waits: number[] = [];
      const recorder = new KeptRecorder();
      const result = await runWorkerJob({ source: 'quay.io/app/one:1' }, { registry, copier: new FakeCopier(), credentials: { credentialsFor: async () => undefined }, recorder }, settings, { deadline: Date.now() + 600_000, retry, sleep: async (ms) => void waits.push(ms) });
      return { result, waits };
    };
    const asked = await run(120_000);
    expect(asked.waits).toHaveLength(2);
    for (const wait of asked.waits) expect(wait).toBeGreaterThanOrEqual(120_000);
    // More than five minutes is more than a wait inside the invocation may be: the last failure is the outcome at once.
    const tooLong = await run(400_000);
    expect(tooLong.waits).toEqual([]);
    expect(tooLong.result).toMatchObject({ status: 'failed', retryable: true });
  });

  describe('a copy that runs into crane\'s time limit', () => {
    const timedOut = (limitMs: number) => () => {
      throw new CopyFailedError(`crane copy timed out after ${limitMs / 1000} s`, { reason: 'timeout', limitMs });
    };
    const imageManifest = 'application/vnd.oci.image.manifest.v1+json';
    const setUp = (registryHost: string) => {
      const registry = new FakeManifestRegistry();
      const source = `${registryHost}/app/big:1`;
      registry.digests.set(source, `sha256:${'a'.repeat(64)}`);
      registry.mediaTypes.set(source, imageManifest);
      return { registry, source };
    };

    it('is reported as too large once, never copied again, its size read where a GET costs no pull', async () => {
      const { registry, source } = setUp('quay.io');
      const body = JSON.stringify({ schemaVersion: 2, mediaType: imageManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 1_000 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'d'.repeat(64)}`, size: 12_299_999_000 }] });
      registry.manifests.set(`${source.replace(':1', '')}@sha256:${'a'.repeat(64)}`, { digest: `sha256:${'a'.repeat(64)}`, mediaType: imageManifest, body, json: JSON.parse(body) });
      const copier = new FakeCopier(timedOut(840_000));
      const recorder = new KeptRecorder();
      const result = await runWorkerJob({ source }, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder }, settings, { deadline: Date.now() + 600_000, copyTimeoutMs: 840_000, sleep: async () => undefined });
      expect(copier.requests).toHaveLength(1);
      expect(recorder.retries).toEqual([]);
      expect(result).toMatchObject({ status: 'failed', retryable: false });
      expect(result.error).toContain('crane copy timed out after 840 s (the image is 12.3 GB): too large or too slow to copy within one worker invocation');
    });

    it('reads no size on Docker Hub, or on a source that told a pull budget: the GET would be a pull', async () => {
      for (const host of ['docker.io', 'ghcr.io']) {
        const { registry, source } = setUp(host);
        if (host === 'ghcr.io') registry.budgets.set(host, { limit: 100, remaining: 90, windowSeconds: 21_600 });
        const result = await runWorkerJob({ source }, { registry, copier: new FakeCopier(timedOut(840_000)), credentials: { credentialsFor: async () => undefined }, recorder: new KeptRecorder() }, settings, { deadline: Date.now() + 600_000, copyTimeoutMs: 840_000 });
        expect(result.error).toContain('too large or too slow');
        expect(result.error).not.toContain('(the image is');
        expect(registry.calls.filter((call) => call.startsWith('GET')), host).toEqual([]);
      }
    });

    it('is not "too large" when it started late, with less than the limit left: the next run may finish it', async () => {
      const { registry, source } = setUp('quay.io');
      const copier = new FakeCopier(timedOut(120_000));
      // 124 s left: crane got 120 s of them, and another run of it could not have as much.
      const result = await runWorkerJob({ source }, { registry, copier, credentials: { credentialsFor: async () => undefined }, recorder: new KeptRecorder() }, settings, { deadline: Date.now() + 124_000, copyTimeoutMs: 840_000, sleep: async () => undefined });
      expect(copier.requests).toHaveLength(1);
      expect(result).toMatchObject({ status: 'failed', retryable: false });
      expect(result.error).toContain('it started with only 120 s of the invocation left; the next scheduled run tries again');
      expect(result.error).not.toContain('too large');
    });
  });

  it('aborts the signal it bound when the invocation ends, so that nothing left of it runs unbounded', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/app/one:1', `sha256:${'a'.repeat(64)}`);
    registry.digests.set('registry.example.com/mirror/quay.io/app/one:1', `sha256:${'a'.repeat(64)}`);
    const bound: AbortSignal[] = [];
    const result = await runWorkerJob({ source: 'quay.io/app/one:1' }, { registry, copier: new FakeCopier(), credentials: { credentialsFor: async () => undefined }, recorder: new KeptRecorder() }, settings, { deadline: Date.now() + 600_000, bindSignal: (signal) => bound.push(signal) });
    expect(result).toMatchObject({ status: 'skipped' });
    expect(bound).toHaveLength(1);
    expect(bound[0]?.aborted).toBe(true);
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
