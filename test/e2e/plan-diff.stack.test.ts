import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, pushIndex, type SeedTarget } from '../../scripts/lib/oci-seed.ts';
import type { DiffReport } from '../../shared/plan/diff-report.ts';
import type { Report } from '../../shared/plan/report.ts';
import { runCli, writeImagesTree } from '../support/cli.ts';
import { type DockerHubEmulator, startDockerHub } from '../support/docker-hub.ts';
import type { FaultProxy } from '../support/fault-proxy.ts';
import { manifestRequests, stack, uniqueName, watchSource } from '../support/stack.ts';

describe('mirror plan --base against the local source registry', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const ns = uniqueName('diff');
  // The images are named through a proxy that counts every request reaching the source registry.
  let watched: FaultProxy;
  let src = '';
  let dir = '';
  const digests: Record<string, string> = {};
  let base = '';
  let next = '';
  let credentials = '';

  beforeAll(async () => {
    watched = await watchSource();
    src = `${watched.host}/${ns}`;
    dir = `${watched.host}/${ns}`;
    digests.twoOld = (await pushIndex(source, `${ns}/two`, '0', ['linux/amd64', 'linux/arm64'])).index.digest;
    digests.two = (await pushIndex(source, `${ns}/two`, '1', ['linux/amd64', 'linux/arm64'], { format: 'docker' })).index.digest;
    digests.three = (await pushIndex(source, `${ns}/three`, '2', ['linux/amd64', 'linux/arm64', 'linux/arm/v7'])).index.digest;
    digests.single = (await pushImage(source, `${ns}/single`, '1')).digest;
    digests.same = (await pushImage(source, `${ns}/same`, '1')).digest;
    digests.gone = (await pushImage(source, `${ns}/gone`, '1')).digest;
    base = await writeImagesTree({
      [`${dir}/two/Dockerfile`]: `FROM ${src}/two:0\n`,
      [`${dir}/same/Dockerfile`]: `FROM ${src}/same:1\n`,
      [`${dir}/gone/Dockerfile`]: `FROM ${src}/gone:1\n`,
    });
    next = await writeImagesTree({
      [`${dir}/two/Dockerfile`]: `FROM ${src}/two:1\n`,
      [`${dir}/same/Dockerfile`]: `FROM ${src}/same:1\n`,
      [`${dir}/three/Dockerfile`]: `FROM ${src}/three:2\n`,
      [`${dir}/single/Dockerfile`]: `FROM ${src}/single:1\n`,
      [`${dir}/same-again/Dockerfile`]: `FROM ${src}/same:1 AS base\nRUN true\n`,
      [`${dir}/missing/Dockerfile`]: `FROM ${src}/missing:1\n`,
      [`${dir}/broken/Dockerfile`]: `FROM ${src}/broken:\${UNDECLARED}\n`,
    });
    credentials = join(next, '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(() => watched?.close());

  it('lists added, changed, removed and invalid, with platforms and pull costs, spending a HEAD per image and a GET per index', async () => {
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as DiffReport;
    const short = (name: string) => name.replace(`${src}/`, '');

    expect(report.changed.map((e) => ({ ...e, source: short(e.source), previous: short(e.previous ?? '') }))).toEqual([
      {
        source: 'two:1',
        previous: 'two:0',
        target: null,
        files: [`${dir}/two/Dockerfile`],
        namedElsewhere: false,
        dockerHub: false,
        digest: digests.two,
        index: true,
        platforms: ['linux/amd64', 'linux/arm64'],
        manifestGets: 3,
        pulls: 3,
        // --artifacts signatures by default: the image carries none, so they cost nothing.
        artifactPulls: 0,
        artifactsError: null,
        error: null,
        pinDrift: null,
        pinDriftError: null,
      },
    ]);
    const added = Object.fromEntries(report.added.map((e) => [short(e.source), e]));
    expect(Object.keys(added).sort()).toEqual(['missing:1', 'same:1', 'single:1', 'three:2']);
    expect(added['three:2']).toMatchObject({ digest: digests.three, index: true, platforms: ['linux/amd64', 'linux/arm/v7', 'linux/arm64'], manifestGets: 4, pulls: 4 });
    expect(added['single:1']).toMatchObject({ digest: digests.single, index: false, platforms: [], manifestGets: 1, pulls: 1 });
    expect(added['same:1']).toMatchObject({ files: [`${dir}/same-again/Dockerfile`], namedElsewhere: true, manifestGets: 0, pulls: 0, digest: null });
    expect(added['missing:1']).toMatchObject({ manifestGets: null, pulls: null, error: `looking up "${src}/missing:1": no such image (404)` });
    expect(report.removed.map((e) => short(e.source))).toEqual(['gone:1']);
    expect(report.invalid).toEqual([{ file: `${dir}/broken/Dockerfile`, message: 'line 1: ARG UNDECLARED is not declared before the first FROM' }]);
    expect(report.summary).toEqual({
      added: 4,
      changed: 1,
      removed: 1,
      unchanged: 1,
      invalid: 1,
      alreadyBroken: 0,
      notMirrored: 0,
      pinDrift: 0,
      costComplete: false,
      manifestGets: 3 + 4 + 1,
      pulls: 3 + 4 + 1,
      artifactPulls: 0,
      dockerHubPulls: 0,
      lookupGets: 2,
      dockerHubLookupGets: 0,
      missing: 1,
    });
    // This registry counts no pulls: it sends no budget, and none is made up.
    expect([report.budgets, report.pullReserve]).toEqual([[], 20]);

    // The lookup itself: a HEAD per image it reports, and a GET by digest for each index only; for the signatures of
    // each image found (--artifacts signatures by default), a HEAD on its `.sig` tag and on its referrers tag, as this
    // registry serves no referrers API.
    const requests = watched.log.slice(mark);
    const signatures = (name: string, digest: string | undefined) => [`${name}/manifests/${digest?.replace(':', '-')}`, `${name}/manifests/${digest?.replace(':', '-')}.sig`];
    expect(manifestRequests(requests, ns, 'HEAD').map((r) => r.path.replace(`/v2/${ns}/`, '')).sort()).toEqual(
      ['missing/manifests/1', 'single/manifests/1', 'three/manifests/2', 'two/manifests/1', ...signatures('single', digests.single), ...signatures('three', digests.three), ...signatures('two', digests.two)].sort(),
    );
    expect(manifestRequests(requests, ns, 'GET').map((r) => r.path.replace(`/v2/${ns}/`, '')).sort()).toEqual([`three/manifests/${digests.three}`, `two/manifests/${digests.two}`]);
  });

  it('asks the registry nothing with --no-cost', async () => {
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json', '--no-cost']);
    const report = JSON.parse(run.stdout) as DiffReport;
    expect(report.summary).toMatchObject({ added: 4, changed: 1, removed: 1, lookupGets: 0, manifestGets: 0 });
    expect(report.changed[0]).toMatchObject({ platforms: null, pulls: null });
    expect(watched.log.slice(mark).filter((r) => r.path.startsWith(`/v2/${ns}/`))).toEqual([]);
  });

  it('shows the digests, platforms and costs in the pull-request comment', async () => {
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'markdown']);
    const digest = (full: string | undefined) => `<code title="${full}">${full?.slice(0, 19)}…</code>`;
    expect(run.stdout).toContain(`| \`${src}/three:2\` | ${digest(digests.three)} | linux/amd64, linux/arm/v7, linux/arm64 | 4 | \`${dir}/three/Dockerfile\` |`);
    expect(run.stdout).toContain(`| \`${src}/two:1\` | \`${src}/two:0\` | ${digest(digests.two)} | linux/amd64, linux/arm64 | 3 | \`${dir}/two/Dockerfile\` |`);
    expect(run.stdout).toContain(`| \`${src}/single:1\` | ${digest(digests.single)} | single image | 1 | \`${dir}/single/Dockerfile\` |`);
    expect(run.stdout).toContain(`| \`${src}/missing:1\` | – | ⚠️ not found | – | \`${dir}/missing/Dockerfile\` |`);
    expect(run.stdout).toContain('\n\nSyncing this costs the sources **8** pulls at least (some costs are unknown).\n\n');
    expect(run.stdout).toContain('<sub>Looking the costs up took a HEAD per image, which Docker Hub does not count, a HEAD per cosign tag and a referrers list (neither is counted), and 2 manifest GETs to read indexes. A pull here is a manifest GET');
  });

  it('predicts the manifest GETs a real sync then spends on the source', async () => {
    const target = `${s.targetRegistry}/mirror-${ns}`;
    const sync = (images: string) => runCli(['sync', '--images', images, '--target', target, '--credentials', credentials, '--json', '--quiet'], { CRANE: s.crane });
    const first = await sync(base);
    expect(first.code, first.stderr).toBe(0);

    const predicted = JSON.parse((await runCli(['plan', '--images', next, '--base', base, '--format', 'json'])).stdout) as DiffReport;
    const mark = watched.log.length;
    const second = await sync(next);
    const results = (JSON.parse(second.stdout) as Report).results;
    expect(results.filter((r) => r.status === 'copied').map((r) => r.source.replace(`${src}/`, '')).sort()).toEqual(['single:1', 'three:2', 'two:1']);
    expect(results.filter((r) => r.status === 'failed').map((r) => r.source.replace(`${src}/`, ''))).toEqual(['missing:1']);
    const gets = manifestRequests(watched.log.slice(mark), ns, 'GET');
    expect(predicted.summary.pulls).toBe(8);
    expect(gets).toHaveLength(predicted.summary.pulls);
  });
});

describe('mirror plan --base and a digest pin whose tag moved on the source registry', () => {
  const s = stack();
  const source: SeedTarget = { registry: s.sourceRegistry };
  const ns = uniqueName('diff-pin');
  let watched: FaultProxy;
  let src = '';
  let base = '';
  let next = '';
  let pinned = '';
  let moved = '';
  let kept = '';

  beforeAll(async () => {
    watched = await watchSource();
    src = `${watched.host}/${ns}`;
    // Pinned, then the tag pushed again: upstream has moved on from the pin. The other pin's tag stays where it was.
    pinned = (await pushImage(source, `${ns}/app`, '1')).digest;
    moved = (await pushImage(source, `${ns}/app`, '1')).digest;
    kept = (await pushImage(source, `${ns}/lib`, '2')).digest;
    base = await writeImagesTree({});
    next = await writeImagesTree({
      [`${src}/app/Dockerfile`]: `FROM ${src}/app:1@${pinned}\n`,
      [`${src}/lib/Dockerfile`]: `FROM ${src}/lib:2@${kept}\n`,
    });
  });

  afterAll(() => watched?.close());

  it('tells the pin behind its tag with one HEAD on the tag, and passes', async () => {
    expect(moved).not.toBe(pinned);
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as DiffReport;
    const bySource = Object.fromEntries(report.added.map((e) => [e.source, e]));
    expect(bySource[`${src}/app:1@${pinned}`]).toMatchObject({ digest: pinned, pinDrift: { tag: `${src}/app:1`, pinned, current: moved }, pinDriftError: null });
    expect(bySource[`${src}/lib:2@${kept}`]).toMatchObject({ digest: kept, pinDrift: null, pinDriftError: null });
    expect(report.summary).toMatchObject({ pinDrift: 1, lookupGets: 0, invalid: 0 });
    // A HEAD by digest for each cost, a HEAD on each tag for the drift, and no GET at all; for the signatures
    // (--artifacts signatures by default), a HEAD on each cosign `.sig` tag and, as this registry serves no referrers
    // API, on each referrers tag.
    const requests = watched.log.slice(mark);
    const tagOf = (digest: string) => digest.replace(':', '-');
    expect(manifestRequests(requests, ns, 'HEAD').map((r) => r.path.replace(`/v2/${ns}/`, '')).sort()).toEqual(
      ['app/manifests/1', `app/manifests/${pinned}`, `app/manifests/${tagOf(pinned)}`, `app/manifests/${tagOf(pinned)}.sig`, 'lib/manifests/2', `lib/manifests/${kept}`, `lib/manifests/${tagOf(kept)}`, `lib/manifests/${tagOf(kept)}.sig`].sort(),
    );
    expect(manifestRequests(requests, ns, 'GET')).toEqual([]);
  });

  it('warns of it in the comment and the text', async () => {
    const warning = `tag ${src}/app:1 now names ${moved}, not the pinned ${pinned} (the pin is what is mirrored; update the pin to take the new image)`;
    const markdown = await runCli(['plan', '--images', next, '--base', base, '--format', 'markdown']);
    expect(markdown.stdout).toContain(`#### ⚠️ Pins whose tag has moved upstream (1)\n\n- \`${src}/app:1@${pinned}\` (\`${src}/app/Dockerfile\`): ${warning}\n`);
    const text = await runCli(['plan', '--images', next, '--base', base]);
    expect(text.stdout).toContain(`    warning: ${warning}\n`);
  });

  it('looks no tag up with --no-cost', async () => {
    const mark = watched.log.length;
    const run = await runCli(['plan', '--images', next, '--base', base, '--format', 'json', '--no-cost']);
    expect((JSON.parse(run.stdout) as DiffReport).added.map((e) => e.pinDrift)).toEqual([null, null]);
    expect(watched.log.slice(mark).filter((r) => r.path.startsWith(`/v2/${ns}/`))).toEqual([]);
  });
});

// A Docker Hub stand-in (test/support/docker-hub.ts) in front of the source registry: HEADs free, each manifest GET a
// pull, and the budget in the ratelimit headers of every manifest answer.
describe('mirror plan --base against a Docker Hub–like source that counts pulls', () => {
  const s = stack();
  const ns = uniqueName('diff-hub');
  const hubs: DockerHubEmulator[] = [];
  let credentials = '';

  beforeAll(async () => {
    await pushImage({ registry: s.sourceRegistry }, `${ns}/single`, '1');
    await pushIndex({ registry: s.sourceRegistry }, `${ns}/multi`, '1', ['linux/amd64', 'linux/arm64']);
    credentials = join(await writeImagesTree({}), '..', `${ns}-credentials.json`);
    await writeFile(credentials, JSON.stringify({ [s.targetRegistry]: { username: s.targetUsername, password: s.targetPassword } }), { mode: 0o600 });
  });

  afterAll(async () => {
    await Promise.all(hubs.map((hub) => hub.close()));
  });

  /** A hub with `remaining` pulls left, and a change adding a single image (1 pull) and an index of two (1 + 2 pulls). */
  async function change(remaining: number) {
    const hub = await startDockerHub({ backend: s.sourceRegistry, limit: 100, remaining, source: '192.0.2.1' });
    hubs.push(hub);
    const base = await writeImagesTree({});
    const next = await writeImagesTree({
      [`${hub.host}/${ns}/single/Dockerfile`]: `FROM ${hub.host}/${ns}/single:1\n`,
      [`${hub.host}/${ns}/multi/Dockerfile`]: `FROM ${hub.host}/${ns}/multi:1\n`,
    });
    const plan = async (format: 'json' | 'text') => runCli(['plan', '--images', next, '--base', base, '--format', format]);
    const sync = async (prefix: string) => {
      const run = await runCli(['sync', '--images', next, '--target', `${s.targetRegistry}/${prefix}`, '--credentials', credentials, '--json', '--quiet'], { CRANE: s.crane });
      return { ...run, report: JSON.parse(run.stdout) as Report };
    };
    return { hub, plan, sync };
  }

  it('reads the budget from the headers, prices the single image by its free HEAD, and the sync takes the pulls predicted', async () => {
    const { hub, plan, sync } = await change(40);
    const run = await plan('json');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as DiffReport;
    // Two HEADs, which cost nothing, and one GET: the index, to count its entries; and for the signatures (--artifacts
    // signatures by default), a HEAD on each image's `.sig` tag and on its referrers tag: free as well.
    expect([hub.manifestHeads, hub.manifestGetsByRepository]).toEqual([2 + 2 * 2, { [`${ns}/multi`]: 1 }]);
    expect(report.summary).toMatchObject({ pulls: 1 + 3, lookupGets: 1, costComplete: true });
    expect(report.budgets).toEqual([{ registry: hub.host, limit: 100, remaining: 39, windowSeconds: 21_600, source: '192.0.2.1', pulls: 4, fits: true }]);
    expect(hub.remaining).toBe(39);
    const text = await plan('text');
    expect(text.stdout).toContain(`Syncing this costs the sources 4 pulls. ${hub.host}: 4 pulls; 38 of 100 per 6 h left for 192.0.2.1, which fits above the 20 kept in reserve.\n`);

    const before = hub.manifestGets;
    const synced = await sync(`mirror-${ns}-fits`);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.report.results.map((r) => r.status)).toEqual(['copied', 'copied']);
    expect([synced.report.summary.pulls, hub.manifestGets - before]).toEqual([report.budgets[0]?.pulls, report.budgets[0]?.pulls]);
  });

  it('says when the change does not fit above the reserve, and the sync does defer an image', async () => {
    const { hub, plan, sync } = await change(23);
    const run = await plan('text');
    expect(run.code, run.stderr).toBe(0);
    // 23 seen, 1 spent reading the index: 22 left, and 4 to take would go 2 below the reserve.
    expect(run.stdout).toContain(
      `Syncing this costs the sources 4 pulls. ${hub.host}: 4 pulls; 22 of 100 per 6 h left for 192.0.2.1, only 2 above the 20 kept in reserve: the sync will defer some images to later runs.\n`,
    );
    expect(hub.remaining).toBe(22);

    const synced = await sync(`mirror-${ns}-defer`);
    expect(synced.code, synced.stderr).toBe(3);
    expect(synced.report.results.map((r) => [r.source.replace(`${hub.host}/${ns}/`, ''), r.status]).sort()).toEqual([
      ['multi:1', 'deferred'],
      ['single:1', 'copied'],
    ]);
    // The index is deferred before its read when the single image took its pull first, after it otherwise (its images
    // did not fit): either way no 429, and the reserve holds.
    expect(hub.tooManyRequests).toBe(0);
    expect([20, 21]).toContain(hub.remaining);
  });
});
