import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestDigest, pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

describe('mirror sync end to end (real registries, real crane)', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const target: SeedTarget = { registry: s.targetRegistry, auth: { username: s.targetUsername, password: s.targetPassword } };
  const ns = uniqueName('e2e');
  const prefix = `mirror-${ns}`;
  // The images are named through a proxy that counts every request reaching the source registry.
  let watched: FaultProxy;
  let host = '';
  const targetRepo = (repo: string) => `${prefix}/${host.replace(':', '-')}/${ns}/${repo}`;
  const digests: Record<string, string> = {};
  let children: string[] = [];
  let images = '';
  let credentials = '';

  beforeAll(async () => {
    watched = await watchSource();
    host = watched.host;
    digests.single = (await pushImage(source, `${ns}/single`, '1.0', { format: 'docker', layers: 2 })).digest;
    const multi = await pushIndex(source, `${ns}/multi`, '2', ['linux/amd64', 'linux/arm64'], { format: 'oci' });
    digests.multi = multi.index.digest;
    children = multi.children.map((child) => child.digest);
    digests.argbuilt = (await pushImage(source, `${ns}/argbuilt`, '3.1')).digest;
    digests.pinned = (await pushImage(source, `${ns}/pinned`, '1.0')).digest;
    digests.pinnedMoved = (await pushImage(source, `${ns}/pinned`, '1.0')).digest;
    digests.builder = (await pushImage(source, `${ns}/builder`, '1')).digest;
    digests.runtime = (await pushImage(source, `${ns}/runtime`, '1')).digest;
    digests.byDigest = (await pushImage(source, `${ns}/bydigest`, undefined)).digest;
    const src = `${host}/${ns}`;
    const dir = `${host}/${ns}`;
    images = await writeImagesTree({
      [`${dir}/single/Dockerfile`]: `FROM ${src}/single:1.0\n`,
      [`${dir}/multi/Dockerfile`]: `FROM ${src}/multi:2\n`,
      [`${dir}/argbuilt/Dockerfile`]: `ARG REGISTRY=${host}\nARG TAG\nFROM \${REGISTRY}/${ns}/argbuilt:\${TAG:-3.1}\n`,
      [`${dir}/pinned/Dockerfile`]: `FROM ${src}/pinned:1.0@${digests.pinned}\n`,
      [`${dir}/runtime/Dockerfile`]: `FROM ${src}/builder:1 AS build\nRUN make\nFROM BUILD AS test\nFROM ${src}/runtime:1\nCOPY --from=build /app /app\n`,
      [`${dir}/builder/Dockerfile`]: `FROM ${src}/builder:1 AS build\nFROM scratch\nCOPY --from=build /app /app\n`,
      [`${dir}/bydigest/Dockerfile`]: `FROM ${src}/bydigest@${digests.byDigest}\n`,
      [`${dir}/broken/Dockerfile`]: `FROM ${src}/broken:\${UNDECLARED}\n`,
    });
    credentials = join(images, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(() => watched?.close());

  const sync = (...extra: string[]) =>
    runCli(['sync', '--images', images, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, '--json', ...extra], { CRANE: s.crane });

  it('mirrors every valid image with its digest, reports the broken file, and exits 1', async () => {
    const run = await sync();
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    const bySource = new Map(report.results.map((r) => [r.source.replace(`${host}/${ns}/`, ''), r]));
    expect([...bySource.keys()].sort()).toEqual(['argbuilt:3.1', 'builder:1', `bydigest@${digests.byDigest}`, 'multi:2', `pinned:1.0@${digests.pinned}`, 'runtime:1', 'single:1.0']);
    for (const result of report.results) expect(result.status, `${result.source}: ${result.error}`).toBe('copied');
    expect(bySource.get('multi:2')?.digest).toBe(digests.multi);
    expect(report.errors).toEqual([{ file: `${host}/${ns}/broken/Dockerfile`, message: 'line 1: ARG UNDECLARED is not declared before the first FROM' }]);
    expect(report.summary).toMatchObject({ planned: 7, copied: 7, skipped: 0, failed: 0, invalid: 1 });

    expect(await manifestDigest(target, targetRepo('single'), '1.0')).toBe(digests.single);
    expect(await manifestDigest(target, targetRepo('multi'), '2')).toBe(digests.multi);
    for (const child of children) expect(await manifestDigest(target, targetRepo('multi'), child)).toBe(child);
    expect(await manifestDigest(target, targetRepo('argbuilt'), '3.1')).toBe(digests.argbuilt);
    // The tag has moved upstream since the pin: the pinned digest is what lands under the tag.
    expect(await manifestDigest(source, `${ns}/pinned`, '1.0')).toBe(digests.pinnedMoved);
    expect(await manifestDigest(target, targetRepo('pinned'), '1.0')).toBe(digests.pinned);
    expect(await manifestDigest(target, targetRepo('builder'), '1')).toBe(digests.builder);
    expect(await manifestDigest(target, targetRepo('runtime'), '1')).toBe(digests.runtime);
    // A digest-only source is retrievable by digest and carries a tag, so no untagged-image rule expires it.
    expect(await manifestDigest(target, targetRepo('bydigest'), digests.byDigest as string)).toBe(digests.byDigest);
    expect(await manifestDigest(target, targetRepo('bydigest'), (digests.byDigest as string).replace(':', '-'))).toBe(digests.byDigest);
  });

  it('skips everything on a second run without a single manifest GET on the source', async () => {
    const mark = watched.log.length;
    const run = await sync();
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.results.map((r) => r.status)).toEqual(Array(7).fill('skipped'));
    expect(report.summary).toMatchObject({ planned: 7, copied: 0, skipped: 7, failed: 0, invalid: 1 });
    const requests = watched.log.slice(mark);
    expect(manifestRequests(requests, ns, 'GET')).toEqual([]);
    // Digest-pinned images need no request on their pin: the five tag references are looked up, and the tag beside
    // the one pin gets a HEAD of its own, which tells whether it moved on upstream. The signatures (the default
    // --artifacts) are looked for with HEADs too: each digest's `.sig` tag and, the source serving no referrers API, its
    // referrers tag.
    const artifactTag = /\/manifests\/sha256-[0-9a-f]{64}(?:\.(?:sig|att|sbom))?$/;
    expect(manifestRequests(requests, ns, 'HEAD').filter((r) => !artifactTag.test(r.path))).toHaveLength(6);
    expect(manifestRequests(requests, ns, 'HEAD').filter((r) => artifactTag.test(r.path)).length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.path.startsWith(`/v2/${ns}/`) && r.path.includes('/blobs/'))).toEqual([]);
  });

  it('prints exactly one JSON document on stdout and progress on stderr', async () => {
    const run = await sync('--dry-run');
    expect(() => JSON.parse(run.stdout)).not.toThrow();
    const report = JSON.parse(run.stdout) as Report;
    expect(new Set(report.results.map((r) => r.status))).toEqual(new Set(['would-skip']));
    expect(run.stderr).toMatch(/\[7\/7\] would-skip/);
  });
});
