/** CloudWatch names shared by the functions (which emit them) and serverless.yml (whose alarms and dashboard read them). */

export const SERVICE_NAME = 'image-mirror';
export const METRICS_NAMESPACE = 'ImageMirror';

/** Every metric, in one place; the only dimension is `service`, to keep cardinality low. */
export const METRIC = {
  /** Worker: images copied, skipped (digests already equal) and failed. */
  copied: 'ImagesCopied',
  skipped: 'ImagesSkipped',
  failed: 'ImagesFailed',
  /** Worker: milliseconds one image took, lookups and copy included. */
  duration: 'MirrorDuration',
  /** Scheduler: runs, jobs planned and invoked, files that yielded no image, runs that failed. */
  schedulerRuns: 'SchedulerRuns',
  planned: 'ImagesPlanned',
  invoked: 'WorkersInvoked',
  invalidFiles: 'InvalidFiles',
  schedulerFailures: 'SchedulerFailures',
} as const;
