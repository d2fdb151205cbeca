import { describe, expect, it } from 'vitest';
import { CopyFailedError, InterruptedError, PlatformNotFoundError, RateLimitedError, SourceRateLimitedError } from '../../../shared/errors.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import { parsePlatform } from '../../../shared/oci/platform.ts';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { reportFailed } from '../../../shared/plan/report.ts';
import type { ImageCopier } from '../../../shared/ports.ts';
import { mirrorImage, syncAll } from '../../../shared/sync/mirror-image.ts';
import { FakeCopier, FakeManifestRegistry } from '../../fakes/registry.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const job = { source: parseImageReference('quay.io/a/b:1'), target: parseImageReference('mirror.example.com/quay.io/a/b:1'), files: ['quay.io/a/b/Dockerfile'] };

describe('mirrorImage (fakes, for what real registries cannot be made to do)', () => {
  it('fails when the target does not hold the copied digest afterwards', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D1);
    const failure = mirrorImage(job, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() });
    await expect(failure).rejects.toThrow(CopyFailedError);
    await expect(failure).rejects.toThrow(`copying "quay.io/a/b@${D1}" to "mirror.example.com/quay.io/a/b:1": the target now holds nothing instead of ${D1}`);
  });

  it('copies by the digest it looked up, and passes only the two registries\' credentials', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D2);
    const copier = new FakeCopier((request) => registry.digests.set(formatReference(request.target), D2));
    const credentials = new StaticCredentialProvider(new Map([
      ['quay.io', { username: 'q', password: 'p' }],
      ['mirror.example.com', { username: 'm', password: 'n' }],
      ['ghcr.io', { username: 'g', password: 'h' }],
    ]));
    await expect(mirrorImage(job, { registry, copier, credentials })).resolves.toMatchObject({ status: 'copied', digest: D2 });
    expect(formatReference(copier.requests[0]!.source)).toBe(`quay.io/a/b@${D2}`);
    expect([...(copier.requests[0]?.credentials.keys() ?? [])].sort()).toEqual(['mirror.example.com', 'quay.io']);
  });

  it('spends no source request on a digest-pinned image the target already holds', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('mirror.example.com/quay.io/a/b:1', D1);
    const pinned = { ...job, source: parseImageReference(`quay.io/a/b:1@${D1}`) };
    await expect(mirrorImage(pinned, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() })).resolves.toMatchObject({ status: 'skipped' });
    expect(registry.calls).toEqual(['HEAD mirror.example.com/quay.io/a/b:1']);
  });

  it('calls a 429 from the source a source rate limit, and one from the target not', async () => {
    const limited = () => new RateLimitedError('429 Too Many Requests (after 4 attempts)', { status: 429, retryable: true });
    const source = new FakeManifestRegistry();
    source.failHeadsOn = { registry: 'quay.io', error: limited() };
    const fromSource = mirrorImage(job, { registry: source, copier: new FakeCopier(), credentials: new StaticCredentialProvider() });
    await expect(fromSource).rejects.toThrow(SourceRateLimitedError);
    await expect(fromSource).rejects.toMatchObject({ status: 429, retryable: true });

    const target = new FakeManifestRegistry();
    target.digests.set('quay.io/a/b:1', D1);
    target.failHeadsOn = { registry: 'mirror.example.com', error: limited() };
    const fromTarget = mirrorImage(job, { registry: target, copier: new FakeCopier(), credentials: new StaticCredentialProvider() });
    await expect(fromTarget).rejects.toThrow('looking up target "mirror.example.com/quay.io/a/b:1": 429 Too Many Requests (after 4 attempts)');
    await expect(fromTarget.catch((error: unknown) => error instanceof SourceRateLimitedError)).resolves.toBe(false);
  });
});

describe('mirrorImage with --platform (fakes)', () => {
  const amd64 = `sha256:${'a'.repeat(64)}`;
  const arm64 = `sha256:${'b'.repeat(64)}`;
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64, size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  });
  const sourceWithIndex = () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D1);
    registry.manifests.set(`quay.io/a/b@${D1}`, { digest: D1, mediaType: OCI_INDEX, body: index, json: JSON.parse(index) });
    return registry;
  };

  it('copies each asked platform by digest, then tags an index of just those', async () => {
    const registry = sourceWithIndex();
    const copier = new FakeCopier();
    const outcome = await mirrorImage(job, { registry, copier, credentials: new StaticCredentialProvider() }, { platforms: [parsePlatform('linux/arm64')] });
    expect(outcome).toMatchObject({ status: 'copied', digest: D1 });
    expect(copier.requests.map((request) => [formatReference(request.source), formatReference(request.target)])).toEqual([[`quay.io/a/b@${arm64}`, `mirror.example.com/quay.io/a/b@${arm64}`]]);
    const tagged = registry.manifests.get('mirror.example.com/quay.io/a/b:1');
    expect(tagged?.json.manifests?.map((entry) => entry.digest)).toEqual([arm64]);
    expect(tagged?.json.annotations).toEqual({ 'io.github.image-mirror.source.digest': D1, 'io.github.image-mirror.platforms': 'linux/arm64' });
  });

  it('skips on the next run: the narrowed index says which source digest it was made from', async () => {
    const registry = sourceWithIndex();
    const platforms = [parsePlatform('linux/arm64')];
    await mirrorImage(job, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() }, { platforms });
    const copier = new FakeCopier();
    await expect(mirrorImage(job, { registry, copier, credentials: new StaticCredentialProvider() }, { platforms })).resolves.toMatchObject({ status: 'skipped' });
    expect(copier.requests).toEqual([]);
  });

  it('names what the index has when it has none of the asked platforms, and copies nothing', async () => {
    const copier = new FakeCopier();
    const failure = mirrorImage(job, { registry: sourceWithIndex(), copier, credentials: new StaticCredentialProvider() }, { platforms: [parsePlatform('linux/s390x')] });
    await expect(failure).rejects.toThrow(PlatformNotFoundError);
    await expect(failure).rejects.toThrow(`copying platforms of "quay.io/a/b@${D1}": the index has none of the platforms linux/s390x (it has linux/amd64, linux/arm64)`);
    await expect(failure).rejects.toMatchObject({ retryable: false });
    expect(copier.requests).toEqual([]);
  });
});

describe('mirrorImage copy retries', () => {
  const transient = () => new CopyFailedError('crane copy failed: GET …: 429 Too Many Requests', { reason: 'transient' });

  it('retries a transient copy failure after a wait, and refreshes refused credentials first', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D2);
    let calls = 0;
    const copier = new FakeCopier((request) => {
      calls += 1;
      if (calls === 1) throw new CopyFailedError('crane copy failed: UNAUTHORIZED', { reason: 'auth', retryable: true }); // as the crane adapter says it
      registry.digests.set(formatReference(request.target), D2);
    });
    const invalidated: string[] = [];
    const credentials = Object.assign(new StaticCredentialProvider(), { invalidate: (host: string) => void invalidated.push(host) });
    const waits: number[] = [];
    await expect(mirrorImage(job, { registry, copier, credentials }, { sleep: async (ms) => void waits.push(ms) })).resolves.toMatchObject({ status: 'copied' });
    expect(calls).toBe(2);
    expect(invalidated.sort()).toEqual(['mirror.example.com', 'quay.io']);
    // Equal jitter: at least half of the first backoff, since crane gives no Retry-After to go by.
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(500);
  });

  it('starts no retry it could not finish before the deadline, and reports the last failure as retryable', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('quay.io/a/b:1', D2);
    const copier = new FakeCopier(() => {
      throw transient();
    });
    const waits: number[] = [];
    const failure = mirrorImage(job, { registry, copier, credentials: new StaticCredentialProvider() }, { deadline: Date.now() + 5_400, sleep: async (ms) => void waits.push(ms) });
    await expect(failure).rejects.toThrow(`copying "quay.io/a/b@${D2}" to "mirror.example.com/quay.io/a/b:1": crane copy failed: GET …: 429 Too Many Requests`);
    await expect(failure).rejects.toMatchObject({ retryable: true, reason: 'transient' });
    expect(copier.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });
});

describe('syncAll when the run is interrupted (fakes)', () => {
  it('starts nothing more, marks every unfinished image interrupted, and keeps what finished', async () => {
    const registry = new FakeManifestRegistry();
    const jobs = ['a', 'b', 'c', 'd'].map((name) => ({ source: parseImageReference(`quay.io/x/${name}:1`), target: parseImageReference(`mirror.example.com/x/${name}:1`), files: [`${name}/Dockerfile`] }));
    for (const j of jobs) registry.digests.set(formatReference(j.source), D1);
    const stop = new AbortController();
    // The first copy lands; the second is running when the signal comes, and a copier stops at once when told.
    const copied: string[] = [];
    const copier: ImageCopier = {
      copy: async (request) => {
        copied.push(request.source.repository);
        if (request.source.repository === 'x/a') return void registry.digests.set(formatReference(request.target), D1);
        setTimeout(() => stop.abort(), 1);
        await new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new InterruptedError('crane copy stopped: interrupted'))));
      },
    };
    const report = await syncAll({ jobs, errors: [], warnings: [] }, { registry, copier, credentials: new StaticCredentialProvider() }, { concurrency: 1, lookupConcurrency: 1, signal: stop.signal });
    expect(report.results.map((r) => [r.source, r.status])).toEqual([
      ['quay.io/x/a:1', 'copied'],
      ['quay.io/x/b:1', 'interrupted'],
      ['quay.io/x/c:1', 'interrupted'],
      ['quay.io/x/d:1', 'interrupted'],
    ]);
    expect(report.results[1]).toMatchObject({ digest: D1, retryable: false });
    expect(report.results[1]?.error).toContain('interrupted');
    // Look-ups run ahead of copies (the fakes answer at once, so all four were looked up): no copy started after the stop.
    expect(report.results[2]?.error).toBe('copying "quay.io/x/c:1": interrupted before the copy started');
    expect(report.results[3]?.error).toBe('copying "quay.io/x/d:1": interrupted before the copy started');
    expect(copied).toEqual(['x/a', 'x/b']);
    expect(report.summary).toMatchObject({ copied: 1, interrupted: 3, failed: 0 });
    expect(reportFailed(report)).toBe(true);
  });
});
