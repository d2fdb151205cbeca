import { describe, expect, it } from 'vitest';
import { parsePlatform, SOURCE_DIGEST_ANNOTATION } from '../../../shared/oci/platform.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { parseTargetBase, targetFor } from '../../../shared/image-ref/target.ts';
import type { MirrorJob } from '../../../shared/plan/plan.ts';
import { mirrorImage, syncAll } from '../../../shared/sync/mirror-image.ts';
import { createSyncDeps } from '../../../shared/wiring/sync.ts';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../../scripts/lib/oci-seed.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../../support/stack.ts';

describe('mirrorImage with real adapters', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const base = parseTargetBase(`${s.targetRegistry}/unit`);
  const deps = () =>
    createSyncDeps({ target: base, ecr: false, crane: s.crane, copyTimeoutMs: 60_000, credentials: new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]]) });
  const jobFor = (ref: string): MirrorJob => {
    const src = parseImageReference(ref);
    return { source: src, target: targetFor(src, base), files: ['Dockerfile'] };
  };

  it('copies only the asked platforms, and skips on rerun with no manifest GET on the source', async () => {
    const ns = uniqueName('plat');
    const pushed = await pushIndex(source, `${ns}/app`, '1', ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], { format: 'docker' });
    const watched = await watchSource();
    try {
      const job = jobFor(`${watched.host}/${ns}/app:1`);
      const platforms = [parsePlatform('linux/amd64'), parsePlatform('linux/arm/v7')];
      const targetRepo = job.target!.repository;

      expect(await mirrorImage(job, deps(), { platforms })).toMatchObject({ status: 'copied', digest: pushed.index.digest });
      const index = await fetch(`http://${s.targetRegistry}/v2/${targetRepo}/manifests/1`, {
        headers: { accept: 'application/vnd.oci.image.index.v1+json', authorization: `Basic ${Buffer.from(`${s.targetUsername}:${s.targetPassword}`).toString('base64')}` },
      }).then((r) => r.json() as Promise<{ manifests: { digest: string }[]; annotations: Record<string, string> }>);
      expect(index.manifests.map((m) => m.digest)).toEqual([pushed.children[0]?.digest, pushed.children[2]?.digest]);
      expect(index.annotations[SOURCE_DIGEST_ANNOTATION]).toBe(pushed.index.digest);
      for (const child of [pushed.children[0], pushed.children[2]]) expect(await manifestDigest(target, targetRepo, child!.digest)).toBe(child!.digest);
      expect(await manifestDigest(target, targetRepo, pushed.children[1]!.digest)).toBeUndefined();

      const mark = watched.log.length;
      expect(await mirrorImage(job, deps(), { platforms })).toMatchObject({ status: 'skipped' });
      const requests = watched.log.slice(mark);
      expect(manifestRequests(requests, ns, 'GET')).toEqual([]);
      // The image's own HEAD; the signatures of the index and its images copied (the default --artifacts) are looked
      // for with HEADs of their tags.
      const artifactTag = /\/manifests\/sha256-[0-9a-f]{64}(?:\.sig)?$/;
      expect(manifestRequests(requests, ns, 'HEAD').filter((r) => !artifactTag.test(r.path))).toHaveLength(1);

      // Another platform set is another copy.
      expect(await mirrorImage(job, deps(), { platforms: [parsePlatform('linux/arm64')] })).toMatchObject({ status: 'copied' });
    } finally {
      await watched.close();
    }
  });

  it('copies again when the source tag moves', async () => {
    const ns = uniqueName('moves');
    const first = await pushImage(source, `${ns}/app`, '1');
    const job = jobFor(`${s.sourceRegistry}/${ns}/app:1`);
    const copied = await mirrorImage(job, deps());
    expect(copied).toMatchObject({ status: 'copied' });
    expect(copied.replaced).toBeUndefined();
    const moved = await pushImage(source, `${ns}/app`, '1');
    expect(await mirrorImage(job, deps(), { dryRun: true })).toMatchObject({ status: 'would-copy', digest: moved.digest });
    // The target tag held the old image: the copy says so rather than passing as a plain copy.
    expect(await mirrorImage(job, deps())).toMatchObject({ status: 'copied', digest: moved.digest, replaced: first.digest });
    expect(await manifestDigest(target, job.target!.repository, '1')).toBe(moved.digest);
  });

  it('keeps the source digest it found in the result of a copy that failed', async () => {
    const ns = uniqueName('faildigest');
    const pushed = await pushImage(source, `${ns}/app`, '1');
    const job = jobFor(`${s.sourceRegistry}/${ns}/app:1`);
    const broken = createSyncDeps({ target: base, ecr: false, crane: `/nonexistent/${ns}/crane`, copyTimeoutMs: 60_000, credentials: new Map([[s.targetRegistry, { username: s.targetUsername, password: s.targetPassword }]]) });
    const report = await syncAll({ jobs: [job], errors: [], warnings: [] }, broken);
    expect(report.results[0]).toMatchObject({ status: 'failed', digest: pushed.digest, retryable: false });
    expect(report.results[0]?.error).toContain('crane not found');
  });

  it('reports a missing source image as permanent, naming it', async () => {
    const ref = `${s.sourceRegistry}/${uniqueName('gone')}/app:1`;
    const failure = mirrorImage(jobFor(ref), deps());
    await expect(failure).rejects.toThrow(`looking up source "${ref}": no such image (404)`);
    await expect(failure).rejects.toMatchObject({ retryable: false });
  });

  it('names the platforms an index has when none was asked for', async () => {
    const ns = uniqueName('noplat');
    await pushIndex(source, `${ns}/app`, '1', ['linux/amd64']);
    await expect(mirrorImage(jobFor(`${s.sourceRegistry}/${ns}/app:1`), deps(), { platforms: [parsePlatform('linux/s390x')] })).rejects.toThrow(
      'the index has none of the platforms linux/s390x (it has linux/amd64)',
    );
  });

  it('copies a single-platform source whole when platforms are asked for', async () => {
    const ns = uniqueName('single');
    const pushed = await pushImage(source, `${ns}/app`, '1');
    const job = jobFor(`${s.sourceRegistry}/${ns}/app:1`);
    expect(await mirrorImage(job, deps(), { platforms: [parsePlatform('linux/amd64')] })).toMatchObject({ status: 'copied' });
    expect(await manifestDigest(target, job.target!.repository, '1')).toBe(pushed.digest);
    expect(await mirrorImage(job, deps(), { platforms: [parsePlatform('linux/amd64')] })).toMatchObject({ status: 'skipped' });
  });
});
