import pLimit from 'p-limit';
import { describeError, RegistryRequestError } from '../errors.ts';
import { formatReference, type ImageReference } from '../image-ref/reference.ts';
import { type CostLookup, syncCostOf } from '../plan/cost.ts';
import { buildDiffReport, type DiffReport, imagesToCost } from '../plan/diff-report.ts';
import { diffPlans } from '../plan/diff.ts';
import { buildPlan, type PlanOptions } from '../plan/plan.ts';
import type { DockerfileSource, ManifestRegistry } from '../ports.ts';

/** What comparing two trees needs: the two sources, and a registry when costs are looked up. */
export interface CompareDeps {
  readonly base: DockerfileSource;
  readonly next: DockerfileSource;
  /** Absent: no cost lookup, no registry request at all. */
  readonly registry?: Pick<ManifestRegistry, 'getManifest'>;
}

/**
 * Plans both trees with the same options, compares them, and looks up what syncing each new image costs on its
 * source (one manifest GET per image), for a pull request's review.
 */
export async function comparePlans(deps: CompareDeps, options: PlanOptions & { readonly baseLabel: string; readonly concurrency?: number }): Promise<DiffReport> {
  const [baseEntries, nextEntries] = await Promise.all([deps.base.list(), deps.next.list()]);
  const diff = diffPlans(buildPlan(baseEntries, options), buildPlan(nextEntries, options));
  const lookups = deps.registry === undefined ? undefined : await lookUpSyncCosts(imagesToCost(diff), deps.registry, { concurrency: options.concurrency ?? 4 });
  return buildDiffReport(diff, lookups, options.baseLabel);
}

/**
 * Looks up the sync cost of each image with one manifest GET on its source (the digest comes from the body, so no
 * HEAD is needed), a few at a time. Never throws: a failed lookup is reported on its image.
 */
async function lookUpSyncCosts(
  images: readonly ImageReference[],
  registry: Pick<ManifestRegistry, 'getManifest'>,
  options: { readonly concurrency?: number } = {},
): Promise<Map<string, CostLookup>> {
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  const unique = [...new Map(images.map((ref) => [formatReference(ref), ref])).entries()];
  const results = await Promise.all(
    unique.map(([name, ref]) =>
      limit(async (): Promise<[string, CostLookup]> => {
        try {
          const manifest = await registry.getManifest(ref);
          if (manifest === undefined) return [name, { error: `looking up "${name}": no such image (404)`, notFound: true, lookupGets: 1 }];
          return [name, { cost: syncCostOf(manifest.digest, manifest.json), lookupGets: 1 }];
        } catch (error) {
          const notFound = error instanceof RegistryRequestError && error.status === 404;
          return [name, { error: `looking up "${name}": ${describeError(error)}`, ...(notFound ? { notFound } : {}), lookupGets: 1 }];
        }
      }),
    ),
  );
  return new Map(results);
}
