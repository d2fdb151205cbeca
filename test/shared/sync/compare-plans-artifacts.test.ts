import { describe, expect, it } from 'vitest';
import { renderDiffMarkdown, renderDiffText } from '../../../functions/cli/render-diff.ts';
import { parseImageReference } from '../../../shared/image-ref/reference.ts';
import { NOTARY_SIGNATURE_ARTIFACT_TYPE, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../../shared/oci/artifacts.ts';
import type { DockerfileEntry } from '../../../shared/ports.ts';
import { comparePlans, lookUpSyncCosts } from '../../../shared/sync/compare-plans.ts';
import type { FakeManifestRegistry } from '../../fakes/registry.ts';
import { D, HEX, IMAGE, referrer, signedRegistry, SPDX } from '../../fakes/signed-registry.ts';

const HUB = { limit: 100, remaining: 76, windowSeconds: 21_600, source: '192.0.2.1' };


/**
 * The app's `.sig` tag with a Sigstore bundle and an SBOM as referrers; redis's referrers tag listing a Notary
 * signature and an SBOM; Docker Hub telling its budget.
 */
function signed(): FakeManifestRegistry {
  const registry = signedRegistry([referrer(6, SIGSTORE_BUNDLE_ARTIFACT_TYPE), referrer(7, SPDX)], { index: D(8), referrers: [referrer(3, NOTARY_SIGNATURE_ARTIFACT_TYPE), referrer(4, SPDX)] });
  registry.budgets.set('docker.io', HUB);
  return registry;
}

const refs = (...names: string[]) => names.map((name) => parseImageReference(name));

describe('lookUpSyncCosts with artifacts', () => {
  it('counts the .sig tag and the signature referrers as pulls, found by a HEAD and a referrers list, no GET', async () => {
    const registry = signed();
    const { costs, artifacts } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), registry, { artifacts: 'signatures' });

    expect(artifacts).toBe('signatures');
    expect(costs.get('ghcr.io/acme/app:1')).toEqual({
      cost: { digest: D(1), index: false, platforms: [], manifestGets: 1, pulls: 1 },
      artifacts: { cosignTags: 1, referrers: 1, pulls: 2 },
      lookupGets: 0,
    });
    expect(registry.calls).toEqual(['HEAD ghcr.io/acme/app:1', `HEAD ghcr.io/acme/app:sha256-${HEX(1)}.sig`, `REFERRERS ghcr.io/acme/app@${D(1)}`]);
  });

  it('with all, asks for the .att and .sbom tags too and counts every referrer', async () => {
    const registry = signed();
    registry.digests.set(`ghcr.io/acme/app:sha256-${HEX(1)}.att`, D(9));
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), registry, { artifacts: 'all' });

    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toEqual({ cosignTags: 2, referrers: 2, pulls: 4 });
    expect(registry.calls.filter((call) => call.startsWith('HEAD'))).toEqual([
      'HEAD ghcr.io/acme/app:1',
      `HEAD ghcr.io/acme/app:sha256-${HEX(1)}.sig`,
      `HEAD ghcr.io/acme/app:sha256-${HEX(1)}.att`,
      `HEAD ghcr.io/acme/app:sha256-${HEX(1)}.sbom`,
    ]);
  });

  it('asks nothing about artifacts with none, or when not told a mode', async () => {
    for (const options of [{ artifacts: 'none' as const }, {}]) {
      const registry = signed();
      const looked = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), registry, options);

      expect(looked.artifacts).toBeUndefined();
      expect(looked.costs.get('ghcr.io/acme/app:1')?.artifacts).toBeUndefined();
      expect(registry.calls).toEqual(['HEAD ghcr.io/acme/app:1']);
    }
  });

  it('reads the referrers tag of a source without the referrers API with one GET, counted, after every HEAD', async () => {
    const registry = signed();
    const { costs, budgets } = await lookUpSyncCosts(refs('redis:7'), registry, { artifacts: 'signatures' });

    // No .sig tag; the tag index names a Notary signature (wanted) and an SBOM (not with `signatures`): 1 + its GET.
    expect(costs.get('docker.io/library/redis:7')).toMatchObject({ artifacts: { cosignTags: 0, referrers: 1, pulls: 2 }, lookupGets: 1 });
    const firstGet = registry.calls.findIndex((call) => call.startsWith('GET'));
    expect(registry.calls.slice(firstGet)).toEqual([`GET docker.io/library/redis:sha256-${HEX(2)}`]);
    expect(registry.calls.slice(0, firstGet).every((call) => !call.startsWith('GET'))).toBe(true);
    // The GET of the tag index is taken off the budget the HEADs told.
    expect(budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 75 }]);
  });

  it('costs nothing more for an image with no signature at all', async () => {
    const registry = signed();
    registry.digests.set('docker.io/library/alpine:3.20', D(4));
    registry.mediaTypes.set('docker.io/library/alpine:3.20', IMAGE);
    const { costs } = await lookUpSyncCosts(refs('alpine:3.20'), registry, { artifacts: 'all' });

    expect(costs.get('docker.io/library/alpine:3.20')).toMatchObject({ artifacts: { cosignTags: 0, referrers: 0, pulls: 0 }, lookupGets: 0 });
  });

  it("reports a failed artifact lookup on its image, keeping the image's own cost", async () => {
    const registry = signed();
    registry.listReferrers = async () => {
      throw new Error('503 Service Unavailable');
    };
    const { costs } = await lookUpSyncCosts(refs('ghcr.io/acme/app:1'), registry, { artifacts: 'signatures' });

    expect(costs.get('ghcr.io/acme/app:1')).toMatchObject({
      cost: { pulls: 1 },
      artifactsError: 'looking up the signatures of "ghcr.io/acme/app:1": 503 Service Unavailable',
    });
    expect(costs.get('ghcr.io/acme/app:1')?.artifacts).toBeUndefined();
  });
});

describe('comparePlans with artifacts', () => {
  const tree = (files: Record<string, string>) => ({ list: async (): Promise<DockerfileEntry[]> => Object.entries(files).map(([path, text]) => ({ path, text })) });
  const base = tree({});
  const next = tree({ 'app/Dockerfile': 'FROM ghcr.io/acme/app:1\n', 'redis/Dockerfile': 'FROM redis:7\n' });

  it("adds each image's artifact pulls to its own and to the totals, and says so", async () => {
    const report = await comparePlans({ base, next, registry: signed() }, { baseLabel: 'main', artifacts: 'signatures' });

    expect(report.artifacts).toBe('signatures');
    expect(report.added.map((e) => [e.source, e.manifestGets, e.artifactPulls, e.pulls])).toEqual([
      ['docker.io/library/redis:7', 1, 2, 3],
      ['ghcr.io/acme/app:1', 1, 2, 3],
    ]);
    expect(report.summary).toMatchObject({ pulls: 6, manifestGets: 2, artifactPulls: 4, dockerHubPulls: 3, lookupGets: 1, costComplete: true });
    expect(report.budgets).toEqual([{ registry: 'docker.io', ...HUB, remaining: 75, pulls: 3, fits: true }]);

    const text = renderDiffText(report);
    expect(text).toContain('    single image; 3 pulls (2 for signatures and other artifacts)\n');
    expect(text).toContain('Syncing this costs the sources 6 pulls (4 of them for signatures and other artifacts, --artifacts signatures).');
    expect(text).toContain('a HEAD per cosign tag and a referrers list (neither is counted)');
    expect(renderDiffMarkdown(report)).toContain('Syncing this costs the sources **6** pulls (4 of them for signatures and other artifacts, --artifacts signatures).');
  });

  it('prices the images alone with --artifacts none, as before', async () => {
    const report = await comparePlans({ base, next, registry: signed() }, { baseLabel: 'main', artifacts: 'none' });

    expect(report.artifacts).toBeUndefined();
    expect(report.summary.pulls).toBe(2);
    expect(report.summary.artifactPulls).toBeUndefined();
    expect(report.added.every((e) => e.artifactPulls === undefined)).toBe(true);
  });

  it('calls the total a lower bound when an artifact lookup failed', async () => {
    const registry = signed();
    registry.listReferrers = async () => {
      throw new Error('503 Service Unavailable');
    };
    const report = await comparePlans({ base, next: tree({ 'app/Dockerfile': 'FROM ghcr.io/acme/app:1\n' }), registry }, { baseLabel: 'main', artifacts: 'signatures' });

    expect(report.summary.costComplete).toBe(false);
    expect(renderDiffText(report)).toContain('    warning: looking up the signatures of "ghcr.io/acme/app:1": 503 Service Unavailable');
    expect(renderDiffText(report)).toContain('at least (some costs are unknown)');
  });
});
