import { describe, expect, it } from 'vitest';
import { renderDiffText } from '../../../functions/cli/render-diff.ts';
import { type CostLookup, syncCostOf } from '../../../shared/plan/cost.ts';
import { buildDiffReport, diffReportFailed, imagesToCost } from '../../../shared/plan/diff-report.ts';
import { diffPlans } from '../../../shared/plan/diff.ts';
import { buildPlan } from '../../../shared/plan/plan.ts';
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
    ['counts one GET and one pull for a single image', { mediaType: 'application/vnd.oci.image.manifest.v1+json' }, { index: false, platforms: [], manifestGets: 1, pulls: 1 }],
    [
      'counts the index and each entry as GETs, each platform as a pull',
      { manifests: [child({ os: 'linux', architecture: 'amd64' }, 1), child({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 2)] },
      { index: true, platforms: ['linux/amd64', 'linux/arm64/v8'], manifestGets: 3, pulls: 2 },
    ],
    [
      'leaves attestations out of the platforms and pulls, not out of the GETs',
      {
        manifests: [
          child({ os: 'linux', architecture: 'amd64' }, 1),
          child({ os: 'linux', architecture: 'arm', variant: 'v7' }, 2),
          child({ os: 'unknown', architecture: 'unknown' }, 3, { 'vnd.docker.reference.type': 'attestation-manifest' }),
          child(undefined, 4, { 'vnd.docker.reference.type': 'attestation-manifest' }),
        ],
      },
      { index: true, platforms: ['linux/amd64', 'linux/arm/v7'], manifestGets: 5, pulls: 2 },
    ],
    ['counts an empty index as one pull', { manifests: [] }, { index: true, platforms: [], manifestGets: 1, pulls: 1 }],
  ])('%s', (_, manifest, expected) => {
    expect(syncCostOf(D(9), manifest)).toEqual({ digest: D(9), ...expected });
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
  const diff = diffPlans(base, next);
  const index = { manifests: [child({ os: 'linux', architecture: 'amd64' }, 1), child({ os: 'linux', architecture: 'arm64' }, 2)] };
  const lookups = new Map<string, CostLookup>([
    ['docker.io/library/postgres:14.13', { cost: syncCostOf(D(5), index), lookupGets: 1 }],
    ['ghcr.io/a/app:2', { cost: syncCostOf(D(6), {}), lookupGets: 1 }],
    ['ghcr.io/a/missing:1', { error: 'looking up "ghcr.io/a/missing:1": no such image (404)', notFound: true, lookupGets: 1 }],
  ]);

  it('looks up only the images the base does not already name', () => {
    expect(imagesToCost(diff).map((ref) => `${ref.registry}/${ref.repository}:${ref.tag}`).sort()).toEqual(['docker.io/library/postgres:14.13', 'ghcr.io/a/app:2', 'ghcr.io/a/missing:1']);
  });

  it('adds up the costs, Docker Hub apart, and counts the lookup GETs', () => {
    const report = buildDiffReport(diff, lookups, 'origin/main');
    expect(report.summary).toEqual({
      added: 3,
      changed: 1,
      removed: 1,
      unchanged: 1,
      invalid: 1,
      costComplete: false,
      manifestGets: 3 + 1 + 0,
      pulls: 2 + 1 + 0,
      dockerHubPulls: 2,
      lookupGets: 3,
      dockerHubLookupGets: 1,
      missing: 1,
    });
    expect(report.changed).toEqual([
      expect.objectContaining({ source: 'docker.io/library/postgres:14.13', previous: 'docker.io/library/postgres:14', digest: D(5), platforms: ['linux/amd64', 'linux/arm64'], manifestGets: 3, pulls: 2, dockerHub: true }),
    ]);
    expect(report.added.find((e) => e.source === 'docker.io/library/redis:7')).toMatchObject({ namedElsewhere: true, manifestGets: 0, pulls: 0, error: null });
    expect(report.added.find((e) => e.source === 'ghcr.io/a/missing:1')).toMatchObject({ manifestGets: null, pulls: null, error: 'looking up "ghcr.io/a/missing:1": no such image (404)' });
    // What a reviewer reads: Docker Hub's share of the pulls set against its budget.
    expect(renderDiffText(report)).toContain('Docker Hub: 2 of its 100 pulls per 6 h anonymous, 200 authenticated.');
    expect(diffReportFailed(report)).toBe(true);
  });

  it('knows no cost without lookups, and fails only on invalid files then', () => {
    const report = buildDiffReport(diffPlans(base, buildPlan([{ path: 'pg/Dockerfile', text: 'FROM postgres:15' }])), undefined, 'HEAD');
    expect(report.costLookedUp).toBe(false);
    expect(report.changed[0]).toMatchObject({ manifestGets: null, pulls: null, platforms: null, error: null });
    expect(report.summary).toMatchObject({ costComplete: false, manifestGets: 0, pulls: 0, lookupGets: 0, missing: 0, invalid: 0 });
    expect(diffReportFailed(report)).toBe(false);
  });
});
