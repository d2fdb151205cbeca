import { describe, expect, it } from 'vitest';
import { renderDiffMarkdown, renderDiffText } from '../../../functions/cli/render-diff.ts';
import { type CostLookup, DEFAULT_PULL_RESERVE, singleImageCostOf, syncCostOf } from '../../../shared/plan/cost.ts';
import { buildDiffReport, diffReportFailed, imagesToCost } from '../../../shared/plan/diff-report.ts';
import { diffPlans, editedFiles } from '../../../shared/plan/diff.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
import { parseTargetBase } from '../../../shared/image-ref/target.ts';
import type { ManifestDescriptor, ManifestJson } from '../../../shared/oci/manifest.ts';

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const child = (platform: ManifestDescriptor['platform'], n: number, annotations?: Record<string, string>) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: D(n),
  size: 100,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

describe('syncCostOf', () => {
  it.each<[string, ManifestJson, { index: boolean; platforms: string[]; manifestGets: number; pulls: number }]>([
    ['counts one GET, one pull, for a single image', { mediaType: 'application/vnd.oci.image.manifest.v1+json' }, { index: false, platforms: [], manifestGets: 1, pulls: 1 }],
    [
      'counts the index and each entry, a pull for each GET as the sync does',
      { manifests: [child({ os: 'linux', architecture: 'amd64' }, 1), child({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 2)] },
      { index: true, platforms: ['linux/amd64', 'linux/arm64/v8'], manifestGets: 3, pulls: 3 },
    ],
    [
      'leaves attestations out of the platforms, not out of the GETs and pulls: crane copies them',
      {
        manifests: [
          child({ os: 'linux', architecture: 'amd64' }, 1),
          child({ os: 'linux', architecture: 'arm', variant: 'v7' }, 2),
          child({ os: 'unknown', architecture: 'unknown' }, 3, { 'vnd.docker.reference.type': 'attestation-manifest' }),
          child(undefined, 4, { 'vnd.docker.reference.type': 'attestation-manifest' }),
        ],
      },
      { index: true, platforms: ['linux/amd64', 'linux/arm/v7'], manifestGets: 5, pulls: 5 },
    ],
    ['counts an empty index as one pull', { manifests: [] }, { index: true, platforms: [], manifestGets: 1, pulls: 1 }],
  ])('%s', (_, manifest, expected) => {
    expect(syncCostOf(D(9), manifest)).toEqual({ digest: D(9), ...expected });
  });
});

describe('singleImageCostOf', () => {
  const single = { digest: D(9), index: false, platforms: [], manifestGets: 1, pulls: 1 };
  it.each<[string | undefined, typeof single | undefined]>([
    ['application/vnd.oci.image.manifest.v1+json', single],
    ['application/vnd.docker.distribution.manifest.v2+json', single],
    ['Application/VND.docker.distribution.manifest.v2+json; charset=utf-8', single],
    ['application/vnd.oci.image.index.v1+json', undefined],
    ['application/vnd.docker.distribution.manifest.list.v2+json', undefined],
    ['application/json', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('prices %j from the HEAD alone only when it is an image manifest', (mediaType, expected) => {
    expect(singleImageCostOf({ digest: D(9), ...(mediaType === undefined ? {} : { mediaType }) })).toEqual(expected);
  });
});

describe('buildDiffReport', () => {
  const base = buildPlan([
    { path: 'pg/Dockerfile', text: 'FROM postgres:14' },
    { path: 'redis/Dockerfile', text: 'FROM redis:7' },
    { path: 'gone/Dockerfile', text: 'FROM quay.io/x/gone:1' },
  ]);
  const next = buildPlan([
    { path: 'pg/Dockerfile', text: 'FROM postgres:14.13' },
    { path: 'redis/Dockerfile', text: 'FROM redis:7' },
    { path: 'redis-too/Dockerfile', text: 'FROM redis:7' },
    { path: 'app/Dockerfile', text: 'FROM ghcr.io/a/app:2' },
    { path: 'missing/Dockerfile', text: 'FROM ghcr.io/a/missing:1' },
    { path: 'bad/Dockerfile', text: 'FROM Bad' },
  ]);
  const diff = diffPlans(base, next, new Set(['pg/Dockerfile', 'redis-too/Dockerfile', 'app/Dockerfile', 'missing/Dockerfile', 'bad/Dockerfile']));
  const index = { manifests: [child({ os: 'linux', architecture: 'amd64' }, 1), child({ os: 'linux', architecture: 'arm64' }, 2)] };
  // The index was read with a GET; the single image and the missing one needed only their HEAD.
  const costs = new Map<string, CostLookup>([
    ['docker.io/library/postgres:14.13', { cost: syncCostOf(D(5), index), lookupGets: 1 }],
    ['ghcr.io/a/app:2', { cost: syncCostOf(D(6), {}), lookupGets: 0 }],
    ['ghcr.io/a/missing:1', { error: 'looking up "ghcr.io/a/missing:1": no such image (404)', notFound: true, lookupGets: 0 }],
  ]);
  const hub = { registry: 'docker.io', limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' };

  it('looks up only the images the base does not already name', () => {
    expect(imagesToCost(diff).map((ref) => `${ref.registry}/${ref.repository}:${ref.tag}`).sort()).toEqual(['docker.io/library/postgres:14.13', 'ghcr.io/a/app:2', 'ghcr.io/a/missing:1']);
  });

  it('adds up the pulls, Docker Hub apart, counts the lookup GETs, and sets the budget seen against the change', () => {
    const report = buildDiffReport(diff, { costs, budgets: [hub] }, 'origin/main');
    expect(report.summary).toEqual({
      added: 3,
      changed: 1,
      removed: 1,
      unchanged: 1,
      invalid: 1,
      alreadyBroken: 0,
      notMirrored: 0,
      pinDrift: 0,
      costComplete: false,
      manifestGets: 3 + 1 + 0,
      pulls: 3 + 1 + 0,
      dockerHubPulls: 3,
      lookupGets: 1,
      dockerHubLookupGets: 1,
      missing: 1,
    });
    expect(report.budgets).toEqual([{ ...hub, pulls: 3, fits: true }]);
    expect(report.pullReserve).toBe(DEFAULT_PULL_RESERVE);
    expect(report.changed).toEqual([
      expect.objectContaining({ source: 'docker.io/library/postgres:14.13', previous: 'docker.io/library/postgres:14', digest: D(5), platforms: ['linux/amd64', 'linux/arm64'], manifestGets: 3, pulls: 3, dockerHub: true }),
    ]);
    expect(report.added.find((e) => e.source === 'docker.io/library/redis:7')).toMatchObject({ namedElsewhere: true, manifestGets: 0, pulls: 0, error: null });
    expect(report.added.find((e) => e.source === 'ghcr.io/a/app:2')).toMatchObject({ index: false, platforms: [], manifestGets: 1, pulls: 1, error: null });
    expect(report.added.find((e) => e.source === 'ghcr.io/a/missing:1')).toMatchObject({ manifestGets: null, pulls: null, error: 'looking up "ghcr.io/a/missing:1": no such image (404)' });
    expect(diffReportFailed(report)).toBe(true);

    // What a reviewer reads: one pulls figure per image, Docker Hub's share set against the budget its headers told.
    const text = renderDiffText(report);
    expect(text).toContain('    linux/amd64, linux/arm64; 3 pulls\n');
    expect(text).toContain('    single image; 1 pull\n');
    expect(text).toContain(
      'Syncing this costs the sources 4 pulls at least (some costs are unknown). Docker Hub: 3 pulls; 76 of 100 per 6 h left for 192.0.2.1, which fits above the 20 kept in reserve.\n' +
        'Looking the costs up took a HEAD per image, which Docker Hub does not count, and 1 manifest GET to read indexes (1 on Docker Hub, counted as pulls). ' +
        'A pull here is a manifest GET, as the sync counts them: one for a single image, one for an index and one for each of its entries; ' +
        'that is at least what Docker Hub counts, which counts a multi-platform pull once per architecture (https://docs.docker.com/docker-hub/usage/pulls/).',
    );
    expect(text).not.toContain('manifest GETs,');

    const markdown = renderDiffMarkdown(report);
    // The digest resolved, short, the whole of it in the title; no target column without a target.
    const short = (digest: string) => `<code title="${digest}">${digest.slice(0, 19)}…</code>`;
    expect(markdown).toContain(
      `| image | was | digest | platforms | pulls | files |\n| --- | --- | --- | --- | ---: | --- |\n| \`docker.io/library/postgres:14.13\` | \`docker.io/library/postgres:14\` | ${short(D(5))} | linux/amd64, linux/arm64 | 3 | \`pg/Dockerfile\` |\n`,
    );
    expect(markdown).toContain(`| \`ghcr.io/a/app:2\` | ${short(D(6))} | single image | 1 | \`app/Dockerfile\` |\n`);
    expect(markdown).toContain('| `ghcr.io/a/missing:1` | – | ⚠️ not found | – | `missing/Dockerfile` |\n');
    expect(markdown).toContain(
      'Syncing this costs the sources **4** pulls at least (some costs are unknown). Docker Hub: **3** pulls; 76 of 100 per 6 h left for 192.0.2.1, which fits above the 20 kept in reserve.\n',
    );
  });

  it.each<[string, number, number, string]>([
    ['fits with exactly the reserve left over', 23, DEFAULT_PULL_RESERVE, 'Docker Hub: 3 pulls; 23 of 100 per 6 h left for 192.0.2.1, which fits above the 20 kept in reserve.'],
    ['does not fit one pull short', 22, DEFAULT_PULL_RESERVE, 'Docker Hub: 3 pulls; 22 of 100 per 6 h left for 192.0.2.1, only 2 above the 20 kept in reserve: the sync will defer some images to later runs.'],
    ['does not fit at all inside the reserve', 15, DEFAULT_PULL_RESERVE, 'Docker Hub: 3 pulls; 15 of 100 per 6 h left for 192.0.2.1, none above the 20 kept in reserve: the sync will defer some images to later runs.'],
    ['fits with no reserve kept', 3, 0, 'Docker Hub: 3 pulls; 3 of 100 per 6 h left for 192.0.2.1, which fits above the 0 kept in reserve.'],
  ])('%s', (_, remaining, reserve, sentence) => {
    const report = buildDiffReport(diff, { costs, budgets: [{ ...hub, remaining }] }, 'origin/main', reserve);
    expect(report.budgets[0]?.fits).toBe(sentence.includes('which fits'));
    expect(renderDiffText(report)).toContain(`Syncing this costs the sources 4 pulls at least (some costs are unknown). ${sentence}\n`);
  });

  it('says nothing of limits where no budget was seen, and prices any registry that tells one', () => {
    const ghcr = { registry: 'ghcr.io', limit: 5000, remaining: 4999, windowSeconds: 3600 };
    const report = buildDiffReport(diff, { costs, budgets: [ghcr] }, 'origin/main');
    expect(report.budgets).toEqual([{ ...ghcr, pulls: 1, fits: true }]);
    expect(renderDiffText(report)).toContain(
      'Syncing this costs the sources 4 pulls at least (some costs are unknown). Docker Hub: 3 pulls. ghcr.io: 1 pull; 4999 of 5000 per 1 h left, which fits above the 20 kept in reserve.\n',
    );
  });

  it('escapes what a registry says it counts pulls for, in the comment', () => {
    const report = buildDiffReport(diff, { costs, budgets: [{ ...hub, source: '<b>@team</b>' }] }, 'origin/main');
    expect(renderDiffMarkdown(report)).toContain('left for &lt;b&gt;@\u200bteam&lt;/b&gt;, which fits');
  });

  it('knows no cost without lookups, no budget, and fails only on invalid files then', () => {
    const report = buildDiffReport(diffPlans(base, buildPlan([{ path: 'pg/Dockerfile', text: 'FROM postgres:15' }]), new Set(['pg/Dockerfile'])), undefined, 'HEAD');
    expect(report.costLookedUp).toBe(false);
    expect(report.budgets).toEqual([]);
    expect(report.changed[0]).toMatchObject({ manifestGets: null, pulls: null, platforms: null, error: null });
    expect(report.summary).toMatchObject({ costComplete: false, manifestGets: 0, pulls: 0, lookupGets: 0, missing: 0, invalid: 0 });
    expect(diffReportFailed(report)).toBe(false);
    const text = renderDiffText(report);
    expect(text).toContain('The sync cost was not looked up (--no-cost).\nA pull here is a manifest GET');
    expect(text).not.toMatch(/Docker Hub:|reserve/);
  });
});

describe('the report of what a change introduces and what was already broken', () => {
  const entries = (files: Record<string, string>) => Object.entries(files).map(([path, text]) => ({ path, text }));
  const plan = (files: Record<string, string>, options = {}) => buildPlan(entries(files), options);
  const baseFiles = { 'old/Dockerfile': 'FROM Old', 'pg/Dockerfile': 'FROM postgres:14' };
  const base = plan(baseFiles);
  const against = (files: Record<string, string>) => diffPlans(base, plan(files), editedFiles(entries(baseFiles), entries(files)));
  const broken = 'line 1: invalid image reference "Old": repository "library/Old" must be lowercase';

  it('fails nothing for a file broken the same way on the base, and shows it apart in every format', () => {
    const report = buildDiffReport(against({ 'old/Dockerfile': 'FROM Old', 'pg/Dockerfile': 'FROM postgres:15' }), undefined, 'origin/main');
    expect([report.invalid, report.alreadyBroken]).toEqual([[], [{ file: 'old/Dockerfile', message: broken }]]);
    expect(report.summary).toMatchObject({ invalid: 0, alreadyBroken: 1 });
    expect(diffReportFailed(report)).toBe(false);

    const markdown = renderDiffMarkdown(report);
    expect(markdown).toContain('Compared with `origin/main`: **0** added, **1** changed, **0** removed, 0 unchanged, 1 already broken on `origin/main`.');
    expect(markdown).not.toContain('Introduced by this change');
    expect(markdown).toContain(
      `<details><summary>Already broken on <code>origin/main</code> (not this change's): 1 invalid file, which fail nothing here</summary>\n\n| file | error |\n| --- | --- |\n| \`old/Dockerfile\` | ${broken} |\n\n</details>`,
    );
    const text = renderDiffText(report);
    expect(text).toContain("Compared with origin/main: 0 added, 1 changed, 0 removed, 0 unchanged; 0 invalid files; 1 already broken on origin/main (not this change's)\n");
    expect(text).toContain(`\nAlready broken on origin/main (not this change's; nothing mirrored from them, the check does not fail for them):\n  old/Dockerfile: ${broken}\n`);
    expect(text).not.toContain('introduced by this change');
  });

  it('fails for what the change introduces, listed apart from what the base had', () => {
    const report = buildDiffReport(against({ 'old/Dockerfile': 'FROM Old', 'pg/Dockerfile': 'FROM postgres:${V}' }), undefined, 'origin/main');
    expect(report.invalid.map((issue) => issue.file)).toEqual(['pg/Dockerfile']);
    expect(report.alreadyBroken.map((issue) => issue.file)).toEqual(['old/Dockerfile']);
    expect(diffReportFailed(report)).toBe(true);
    const markdown = renderDiffMarkdown(report);
    expect(markdown).toContain('**1 invalid file**, 1 already broken on `origin/main`.');
    expect(markdown).toMatch(/<details open><summary><b>Introduced by this change: 1 invalid file<\/b>: nothing is mirrored from it, and the check fails<\/summary>\n\n\| file \| error \|\n\| --- \| --- \|\n\| `pg\/Dockerfile` \| line 1: ARG V is not declared before the first FROM \|/);
    expect(markdown.indexOf('Introduced by this change')).toBeLessThan(markdown.indexOf('Already broken on'));
    const text = renderDiffText(report);
    expect(text).toContain('\nInvalid files introduced by this change (nothing mirrored from them; the check fails):\n  pg/Dockerfile: line 1: ARG V is not declared before the first FROM\n');
  });

  it('counts a file the change leaves broken in another way as introduced', () => {
    const report = buildDiffReport(against({ 'old/Dockerfile': 'FROM Older', 'pg/Dockerfile': 'FROM postgres:14' }), undefined, 'origin/main');
    expect([report.summary.invalid, report.summary.alreadyBroken, diffReportFailed(report)]).toEqual([1, 0, true]);
  });

  it('escapes the base label in the HTML of the comment', () => {
    const report = buildDiffReport(diffPlans(base, base, new Set()), undefined, '<b>@x</b>');
    expect(renderDiffMarkdown(report)).toContain('Already broken on <code>&lt;b&gt;@\u200bx&lt;/b&gt;</code> (not');
  });

  it('shows the target of each added and changed image in its own column when there is a target', () => {
    const target = { target: parseTargetBase('r.example.com/mirror') };
    const pinned = `sha256:${'c'.repeat(64)}`;
    const report = buildDiffReport(diffPlans(plan({ 'pg/Dockerfile': 'FROM postgres:14' }, target), plan({ 'pg/Dockerfile': `FROM postgres:15@${pinned}`, 'a/Dockerfile': 'FROM alpine:3.20' }, target), new Set(['pg/Dockerfile', 'a/Dockerfile'])), undefined, 'main');
    expect(report.changed.map((e) => [e.target, e.digest])).toEqual([['r.example.com/mirror/docker.io/library/postgres:15', pinned]]);
    const markdown = renderDiffMarkdown(report);
    expect(markdown).toContain('| image | target | digest | platforms | pulls | files |\n| --- | --- | --- | --- | ---: | --- |\n| `docker.io/library/alpine:3.20` | `r.example.com/mirror/docker.io/library/alpine:3.20` | – | – | – | `a/Dockerfile` |\n');
    expect(markdown).toContain(
      `| \`docker.io/library/postgres:15@${pinned}\` | \`docker.io/library/postgres:14\` | \`r.example.com/mirror/docker.io/library/postgres:15\` | <code title="${pinned}">sha256:cccccccccccc…</code> | – | – | \`pg/Dockerfile\` |\n`,
    );
  });

  it('counts the files the allow-list leaves out apart, and fails nothing for them', () => {
    const allowQuay = { allowRegistries: ['quay.io'] };
    const report = buildDiffReport(diffPlans(plan({}, allowQuay), plan({ 'a/Dockerfile': 'FROM postgres:14', 'b/Dockerfile': 'FROM quay.io/a/b:1' }, allowQuay), new Set(['a/Dockerfile', 'b/Dockerfile'])), undefined, 'main');
    expect(report.summary).toMatchObject({ added: 1, invalid: 0, notMirrored: 1 });
    expect(report.warnings).toEqual([{ file: 'a/Dockerfile', message: 'not mirrored: registry docker.io is not in the allowed registries (quay.io)' }]);
    expect(diffReportFailed(report)).toBe(false);
    expect(renderDiffMarkdown(report)).toContain('**1** added, **0** changed, **0** removed, 0 unchanged, 1 file not mirrored (registry not allowed).');
    expect(renderDiffText(report)).toContain('0 invalid files; 1 file not mirrored (registry not allowed)\n');
  });
});

describe('the report of pins whose tag moved', () => {
  const pinnedDigest = D(1);
  const current = D(2);
  const next = buildPlan([
    { path: 'pg/Dockerfile', text: `FROM postgres:14@${pinnedDigest}` },
    { path: 'gone/Dockerfile', text: `FROM quay.io/a/gone:1@${D(3)}` },
    { path: 'fresh/Dockerfile', text: `FROM redis:7@${D(4)}` },
  ]);
  const diff = diffPlans(buildPlan([]), next, new Set(['pg/Dockerfile', 'gone/Dockerfile', 'fresh/Dockerfile']));
  const lookups = {
    costs: new Map<string, CostLookup>([
      [`docker.io/library/postgres:14@${pinnedDigest}`, { cost: syncCostOf(pinnedDigest, {}), lookupGets: 0 }],
      [`quay.io/a/gone:1@${D(3)}`, { cost: syncCostOf(D(3), {}), lookupGets: 0 }],
      [`docker.io/library/redis:7@${D(4)}`, { cost: syncCostOf(D(4), {}), lookupGets: 0 }],
    ]),
    budgets: [],
    pinDrift: new Map([
      [`docker.io/library/postgres:14@${pinnedDigest}`, { drift: { tag: 'docker.io/library/postgres:14', pinned: pinnedDigest, current }, pullsSpent: 1 }],
      [`quay.io/a/gone:1@${D(3)}`, { error: 'looking up tag "quay.io/a/gone:1" of the pin: 503 Service Unavailable', pullsSpent: 0 }],
      [`docker.io/library/redis:7@${D(4)}`, { pullsSpent: 0 }],
    ]),
  };

  it('carries the drift in JSON, counts it and the GETs it took, and fails nothing for it', () => {
    const report = buildDiffReport(diff, lookups, 'main');
    const bySource = Object.fromEntries(report.added.map((e) => [e.source, e]));
    expect(bySource[`docker.io/library/postgres:14@${pinnedDigest}`]).toMatchObject({ pinDrift: { tag: 'docker.io/library/postgres:14', pinned: pinnedDigest, current }, pinDriftError: null });
    expect(bySource[`quay.io/a/gone:1@${D(3)}`]).toMatchObject({ pinDrift: null, pinDriftError: 'looking up tag "quay.io/a/gone:1" of the pin: 503 Service Unavailable' });
    expect(bySource[`docker.io/library/redis:7@${D(4)}`]).toMatchObject({ pinDrift: null, pinDriftError: null });
    // A registry that answers no HEAD was asked by GET: a pull the lookups spent.
    expect(report.summary).toMatchObject({ pinDrift: 1, lookupGets: 1, dockerHubLookupGets: 1, invalid: 0, missing: 0 });
    expect(diffReportFailed(report)).toBe(false);
  });

  it('shows the drift as a warning in the text and the comment', () => {
    const report = buildDiffReport(diff, lookups, 'main');
    const warning = `tag docker.io/library/postgres:14 now names ${current}, not the pinned ${pinnedDigest} (the pin is what is mirrored; update the pin to take the new image)`;
    expect(renderDiffText(report)).toContain(`  docker.io/library/postgres:14@${pinnedDigest}  (pg/Dockerfile)\n    single image; 1 pull\n    warning: ${warning}\n`);
    expect(renderDiffText(report)).toContain('    warning: looking up tag "quay.io/a/gone:1" of the pin: 503 Service Unavailable\n');
    const markdown = renderDiffMarkdown(report);
    expect(markdown).toContain('⚠️ 1 pin behind its tag.');
    expect(markdown).toContain(`#### ⚠️ Pins whose tag has moved upstream (1)\n\n- \`docker.io/library/postgres:14@${pinnedDigest}\` (\`pg/Dockerfile\`): ${warning}\n`);
    expect(markdown).toContain('#### Lookup problems\n\n- looking up tag "quay.io/a/gone:1" of the pin: 503 Service Unavailable\n');
  });
});
