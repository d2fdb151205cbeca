/** CloudWatch names shared by the functions (which emit them) and serverless.yml (whose alarms and dashboard read them). */

export const SERVICE_NAME = 'image-mirror';
export const METRICS_NAMESPACE = 'ImageMirror';

/** The dimensions beside `service`: only SourcePullsRemaining has one, the source registry, since a budget is per registry. */
export const DIMENSION = {
  sourceRegistry: 'SourceRegistry',
} as const;

/** Every metric, in one place; the only dimension is `service` (and SourceRegistry for the budget), to keep cardinality low. */
export const METRIC = {
  /** Worker: images copied, skipped (digests already equal), and failed for good (a permanent failure, or the last attempt's). */
  copied: 'ImagesCopied',
  skipped: 'ImagesSkipped',
  failed: 'ImagesFailed',
  /** Worker: attempts that failed for a reason that may clear and were tried again (never paged: a failed last attempt is ImagesFailed). */
  retried: 'ImagesRetried',
  /** Worker: images whose repository's managed settings (scan on push, lifecycle policy, tags) had drifted and were put back (one per image, so several tags of one repository may each count). */
  repositoriesRepaired: 'RepositoriesRepaired',
  /** Worker: images left for the next run to keep a source's pull budget above the reserve (never paged). */
  deferred: 'ImagesDeferred',
  /** Worker: images pinned by digest whose tag now names another image upstream (the pin is still what is mirrored; never paged). */
  pinsDrifted: 'PinsDrifted',
  /** Worker: images a signature policy rule covers that carry no signature it accepts (refused, nothing copied; also counted in ImagesFailed; paged). */
  unverified: 'ImagesUnverified',
  /** Worker: a source's pull budget as its last answer told it, less what the worker has spent since; by SourceRegistry. */
  sourcePullsRemaining: 'SourcePullsRemaining',
  /** Worker: milliseconds one image took, lookups and copy included. */
  duration: 'MirrorDuration',
  /** Scheduler: runs, jobs planned and invoked, files that yielded no image, runs that failed. */
  schedulerRuns: 'SchedulerRuns',
  planned: 'ImagesPlanned',
  invoked: 'WorkersInvoked',
  invalidFiles: 'InvalidFiles',
  schedulerFailures: 'SchedulerFailures',
  /** Scheduler: images of a run whose worker could not be invoked (a partial fan-out; paged, never retried wholesale). */
  notInvoked: 'WorkersNotInvoked',
  /** Scheduler: repositories under the prefix, tagged managed-by=image-mirror, that no Dockerfile names any more (never deleted). */
  orphanedRepositories: 'OrphanedRepositories',
  /** Findings: mirrored images whose scan on push completed, and their critical and high findings (summed over images). */
  imagesScanned: 'ImagesScanned',
  scanCritical: 'ScanFindingsCritical',
  scanHigh: 'ScanFindingsHigh',
  /** Findings: the critical and high findings no sign-off accepts (summed over images; the raw counts when they cannot be judged). Critical ones page. */
  unacceptedCritical: 'UnacceptedFindingsCritical',
  unacceptedHigh: 'UnacceptedFindingsHigh',
  /** Findings: scans ECR reported as FAILED, scans that did not run (e.g. UNSUPPORTED_IMAGE), scan events that could not be read. */
  scanFailures: 'ScanFailures',
  imagesNotScanned: 'ImagesNotScanned',
  invalidScanEvents: 'InvalidScanEvents',
} as const;
