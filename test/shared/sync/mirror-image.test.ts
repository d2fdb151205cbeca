import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CopyFailedError, InterruptedError, PlatformNotFoundError, PullLimitError, RateLimitedError, SourceRateLimitedError } from '../../../shared/errors.ts';
import { OCI_INDEX } from '../../../shared/oci/manifest.ts';
import { parsePlatform } from '../../../shared/oci/platform.ts';
import { formatReference, parseImageReference } from '../../../shared/image-ref/reference.ts';
import { StaticCredentialProvider } from '../../../shared/registry/credentials.ts';
import { reportFailed } from '../../../shared/plan/report.ts';
import type { ImageCopier } from '../../../shared/ports.ts';
import { mirrorImage, syncAll } from '../../../shared/sync/mirror-image.ts';
import { PullBudgets } from '../../../shared/sync/pull-budget.ts';
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

  it('spends no source request on the pin of a digest-pinned image the target already holds, only its tag\'s free HEAD', async () => {
    const registry = new FakeManifestRegistry();
    registry.digests.set('mirror.example.com/quay.io/a/b:1', D1);
    const pinned = { ...job, source: parseImageReference(`quay.io/a/b:1@${D1}`) };
    // The image's own requests: its signatures' HEADs are the artifacts step's (test/shared/sync/artifacts.test.ts).
    await expect(mirrorImage(pinned, { registry, copier: new FakeCopier(), credentials: new StaticCredentialProvider() }, { artifacts: 'none' })).resolves.toMatchObject({ status: 'skipped' });
    expect(registry.calls).toEqual(['HEAD mirror.example.com/quay.io/a/b:1', 'HEAD quay.io/a/b:1']);
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

describe('syncAll with a source that counts pulls (fakes)', () => {
  const HUB = 'docker.io';
  const budget = (remaining: number) => ({ limit: 100, remaining, windowSeconds: 21_600, source: '192.0.2.1' });
  const jobFor = (name: string) => ({ source: parseImageReference(`${HUB}/x/${name}:1`), target: parseImageReference(`mirror.example.com/x/${name}:1`), files: [`${name}/Dockerfile`] });
  const bytesOf = (text: string) => new TextEncoder().encode(text);
  const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

  /** A registry holding single images `names`, each answering a HEAD with an image manifest's type. */
  function hubWith(remaining: number, names: readonly string[]): FakeManifestRegistry {
    const registry = new FakeManifestRegistry();
    registry.budgets.set(HUB, budget(remaining));
    names.forEach((name, i) => {
      registry.digests.set(`${HUB}/x/${name}:1`, `sha256:${String(i + 1).repeat(64)}`);
      registry.mediaTypes.set(`${HUB}/x/${name}:1`, 'application/vnd.oci.image.manifest.v1+json');
    });
    return registry;
  }

  /** An index of `children` images under `name`, stored as bytes that begin with a byte-order mark. */
  function addIndex(registry: FakeManifestRegistry, name: string, children: number): string {
    const manifests = Array.from({ length: children }, (_, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(i).repeat(64)}`, size: 10, platform: { os: 'linux', architecture: `arch${i}` } }));
    const text = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...bytesOf(text)]);
    const digest = sha256(bytes);
    registry.digests.set(`${HUB}/x/${name}:1`, digest);
    registry.mediaTypes.set(`${HUB}/x/${name}:1`, OCI_INDEX);
    registry.manifests.set(`${HUB}/x/${name}@${digest}`, { digest, mediaType: OCI_INDEX, body: text, bytes, json: JSON.parse(text) });
    return digest;
  }

  const landing = (registry: FakeManifestRegistry) => new FakeCopier((request) => registry.digests.set(formatReference(request.target), request.source.digest ?? ''));
  const deps = (registry: FakeManifestRegistry, copier: ImageCopier) => ({ registry, copier, credentials: new StaticCredentialProvider() });

  it('copies down to the reserve and defers the rest without a pull, each copy granted its own pulls', async () => {
    const registry = hubWith(22, ['a', 'b', 'c']);
    const copier = landing(registry);
    const report = await syncAll({ jobs: ['a', 'b', 'c'].map(jobFor), errors: [], warnings: [] }, deps(registry, copier), { pullReserve: 20, concurrency: 4 });
    expect(report.results.map((r) => r.status)).toEqual(['copied', 'copied', 'deferred']);
    expect(report.results.map((r) => r.pulls)).toEqual([1, 1, undefined]);
    expect(report.results[2]?.error).toBe(`copying "${HUB}/x/c:1": deferred to the next run: it needs 1 pull of ${HUB}'s budget (100 per 6 h for 192.0.2.1), 20 remain and 20 are kept in reserve`);
    expect(copier.requests.map((r) => r.source.repository)).toEqual(['x/a', 'x/b']);
    expect(report.summary).toMatchObject({ copied: 2, deferred: 1, failed: 0, pulls: 2 });
  });

  it('reads an index, copies its images by digest and writes its own bytes: 1 + images pulls, the digest kept', async () => {
    const registry = hubWith(100, []);
    const digest = addIndex(registry, 'multi', 3);
    const copier = landing(registry);
    const report = await syncAll({ jobs: [jobFor('multi')], errors: [], warnings: [] }, deps(registry, copier), { pullReserve: 20 });
    expect(report.results[0]).toMatchObject({ status: 'copied', digest, pulls: 4 });
    expect(copier.requests).toHaveLength(3);
    expect(registry.digests.get('mirror.example.com/x/multi:1')).toBe(digest);
  });

  it('starts no more images of an index once one failed, and gives back the pulls of those never started', async () => {
    const registry = hubWith(100, []);
    addIndex(registry, 'multi', 8);
    let started = 0;
    const copier = new FakeCopier(() => {
      started += 1;
      throw new CopyFailedError('crane copy failed: MANIFEST_UNKNOWN', { reason: 'permanent' });
    });
    const budgets = new PullBudgets(20);
    const report = await syncAll({ jobs: [jobFor('multi')], errors: [], warnings: [] }, deps(registry, copier), { budgets });
    expect(report.results[0]).toMatchObject({ status: 'failed' });
    // The four started at once each sent their pull; the other four never started.
    expect(started).toBe(4);
    expect(report.results[0]?.pulls).toBe(1 + 4);
    // 100 seen on the HEAD, less the index read and the four images sent: the rest went back.
    expect(budgets.current(HUB)?.remaining).toBe(95);
  });

  it('never lets another copy take pulls between an index read and its images: what is left goes to whole images', async () => {
    // 5 pulls above the reserve; two indexes of 3 images (4 pulls each) and two single images, all at once.
    const registry = hubWith(25, ['s1', 's2']);
    addIndex(registry, 'm1', 3);
    addIndex(registry, 'm2', 3);
    const report = await syncAll({ jobs: ['m1', 'm2', 's1', 's2'].map(jobFor), errors: [], warnings: [] }, deps(registry, landing(registry)), { pullReserve: 20, concurrency: 4 });
    const spent = report.results.reduce((sum, r) => sum + (r.pulls ?? 0), 0);
    expect(spent).toBeLessThanOrEqual(5);
    expect(report.results.filter((r) => r.status === 'copied').map((r) => r.source).sort()).toEqual([`${HUB}/x/m1:1`, `${HUB}/x/s1:1`]);
    // The second index found 1 pull above the reserve after the first: too few to read it, so it spent nothing.
    expect(report.results.find((r) => r.source.includes('/m2:'))).toMatchObject({ status: 'deferred' });
    expect(report.results.find((r) => r.source.includes('/m2:'))?.pulls).toBeUndefined();
  });

  it('grants a retry its own pull, and defers the image when none is left rather than spend the reserve', async () => {
    const registry = hubWith(21, ['a']);
    let calls = 0;
    const copier = new FakeCopier(() => {
      calls += 1;
      throw new CopyFailedError('crane copy failed: GET …: unexpected EOF', { reason: 'transient' });
    });
    const report = await syncAll({ jobs: [jobFor('a')], errors: [], warnings: [] }, deps(registry, copier), { pullReserve: 20, copyRetry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    expect(calls).toBe(1);
    expect(report.results[0]).toMatchObject({ status: 'deferred', pulls: 1 });
    expect(report.results[0]?.error).toContain(`copying "${HUB}/x/a@sha256:${'1'.repeat(64)}" again: deferred to the next run: it needs 1 pull`);
  });

  it('after a pull-limit 429 from a registry that never told its budget, asks it for nothing more in the run', async () => {
    const registry = new FakeManifestRegistry();
    for (const name of ['a', 'b', 'c']) registry.digests.set(`quay.io/x/${name}:1`, D1);
    const copier = new FakeCopier(() => {
      throw new CopyFailedError('crane copy failed: GET …: TOOMANYREQUESTS: You have reached your pull rate limit.', { reason: 'pull-limit', retryable: false });
    });
    const jobs = ['a', 'b', 'c'].map((name) => ({ source: parseImageReference(`quay.io/x/${name}:1`), target: parseImageReference(`mirror.example.com/x/${name}:1`), files: [`${name}/Dockerfile`] }));
    const report = await syncAll({ jobs, errors: [], warnings: [] }, deps(registry, copier), { concurrency: 1 });
    expect(report.results.map((r) => r.status)).toEqual(['deferred', 'deferred', 'deferred']);
    expect(copier.requests).toHaveLength(1);
    expect(report.results[1]?.error).toContain('quay.io refused a pull for its pull limit earlier in this run');
  });

  it('retries a 429 TOOMANYREQUESTS from the target like any throttling: that is no pull budget', async () => {
    const registry = hubWith(100, ['a']);
    registry.failHeadsOn = { registry: 'mirror.example.com', error: new PullLimitError('HEAD …: 429 Too Many Requests (TOOMANYREQUESTS: slow down)', { status: 429 }) };
    const report = await syncAll({ jobs: [jobFor('a')], errors: [], warnings: [] }, deps(registry, landing(registry)), { pullReserve: 20 });
    expect(report.results[0]).toMatchObject({ status: 'failed', retryable: true });
  });
});
