import { lookUpSyncCosts } from './cost.ts';
import { buildDiffReport, type DiffReport, imagesToCost } from './diff-report.ts';
import { diffPlans } from './diff.ts';
import { buildPlan, type PlanOptions } from './plan.ts';
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
